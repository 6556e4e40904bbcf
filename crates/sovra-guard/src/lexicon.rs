//! Built-in multilingual moderation lexicons: regular expressions per
//! category and language, matched case-insensitively over normalised text
//! (see [`crate::normalize`]: no Arabic harakat, bare alef, ё as е, ...).
//!
//! Each entry has a weight. Strong entries (`S`) describe harm on their own
//! (an intent, a request for a method, a threat to a person); weak ones
//! (`W`) are signals that only flag a category together with a second one
//! (noisy-or: two weak signals reach the default 0.5 threshold). Benign
//! phrases (`kill a process`, `sex education`, `suicide prevention line`)
//! are blanked before matching, so the words inside them do not count.
//!
//! The lists aim at the shape of a harmful request (verb + target, method +
//! goal, group + dehumanising term) rather than at single words, so news,
//! history and health questions pass. A country adds its own patterns in
//! its profile; an in-country classifier model can be added beside these
//! through [`crate::Classifier`].

/// Strong: flags alone.
pub(crate) const S: f32 = 0.9;
/// Medium: flags alone at the default threshold, but not at a stricter one.
pub(crate) const M: f32 = 0.6;
/// Weak: needs a second signal.
pub(crate) const W: f32 = 0.35;

/// (categories separated by `|`, language, weight, pattern).
pub(crate) type Entry = (&'static str, &'static str, f32, &'static str);

macro_rules! en_groups {
    () => {
        r"(?:immigrants?|migrants?|refugees?|foreigners?|muslims?|jews?|christians?|blacks?|black people|gays?|gay people|lesbians?|homosexuals?|trans people|transgender people|women|roma|gypsies|arabs?|asians?|africans?|mexicans?|hindus?|sikhs?)"
    };
}
macro_rules! en_dehuman {
    () => {
        r"(?:vermin|subhumans?|sub-humans?|animals|parasites|cockroaches|rats|inferior|a disease|a plague|filth|savages|not (?:fully )?human)"
    };
}
macro_rules! fr_groups {
    () => {
        r"(?:immigrés|immigrants|migrants|réfugiés|étrangers|musulmans|juifs|chrétiens|noirs|arabes|homosexuels|gays|lesbiennes|roms|gitans|femmes|africains|maghrébins)"
    };
}
macro_rules! es_groups {
    () => {
        r"(?:inmigrantes|migrantes|refugiados|extranjeros|musulmanes|judíos|cristianos|negros|gitanos|gays|homosexuales|lesbianas|moros|árabes|mujeres|sudacas|indígenas)"
    };
}
macro_rules! de_groups {
    () => {
        r"(?:flüchtling\w*|ausländer\w*|migrant\w*|einwanderer\w*|muslim\w*|jude\w*|juden|christen|schwarze\w*|schwule\w*|homosexuelle\w*|lesbe\w*|roma|sinti|zigeuner\w*|araber\w*|türke\w*|frauen)"
    };
}
macro_rules! it_groups {
    () => {
        r"(?:immigrati|migranti|profughi|stranieri|musulmani|ebrei|cristiani|neri|rom|zingari|gay|omosessuali|lesbiche|froci|arabi|donne|africani)"
    };
}
macro_rules! ru_groups {
    () => {
        r"(?:мигранты|мигрантов|иммигранты|беженцы|беженцев|приезжие|мусульмане|мусульман|евреи|евреев|цыгане|цыган|геи|геев|гомосексуалисты|гомосексуалистов|черные|черных|кавказцы|таджики|украинцы|русские|женщины)"
    };
}
macro_rules! et_groups {
    () => {
        r"(?:sisserändaja\w*|immigrant\w*|pagula\w*|migrant\w*|moslem\w*|juudi\w*|venelas\w*|eestlas\w*|musta\w*|neegr\w*|geid|geisid|homod|homosid|homoseksuaal\w*|mustlas\w*|ukrainlas\w*|naised)"
    };
}
macro_rules! ar_groups {
    () => {
        r"(?:المهاجرين|المهاجرون|اللاجئين|اللاجئون|اليهود|المسيحيين|المسلمين|السود|المثليين|الشواذ|الاجانب|الغجر|الامازيغ|العرب|الافارقة|النساء|الشيعة|السنة)"
    };
}
macro_rules! sw_groups {
    () => {
        r"(?:wahamiaji|wakimbizi|waislamu|wayahudi|wakristo|mashoga|wasagaji|wasomali|wageni|weusi|wazungu|wahindi|wakikuyu|waluo|wanawake|waarabu)"
    };
}
macro_rules! hi_groups {
    () => {
        r"(?:प्रवासी|प्रवासियों|मुसलमान|मुसलमानों|मुस्लिम|मुस्लिमों|हिंदू|हिंदुओं|दलित|दलितों|ईसाई|ईसाइयों|सिख|सिखों|यहूदी|यहूदियों|समलैंगिक|समलैंगिकों|बिहारी|शरणार्थी|शरणार्थियों|औरतें|महिलाएं)"
    };
}

#[rustfmt::skip]
pub(crate) static ENTRIES: &[Entry] = &[
    // ---------------------------------------------------------------- en
    ("harassment", "en", S, r"\b(?:fat|ugly|stupid|worthless|pathetic|disgusting|dumb)\b.{0,25}\b(?:loser|pig|cow|bitch|slut|whore|idiot|freak|failure|moron)\b"),
    ("harassment", "en", W, r"\bnobody (?:likes|loves|wants|cares about) (?:you|her|him|them)\b|\bthat nobody (?:likes|loves|wants)\b"),
    ("harassment", "en", W, r"\b(?:you|she|he) (?:is|are|'re|'s) (?:a |an |so )?(?:worthless|pathetic|ugly|fat|stupid|disgusting|loser|idiot|whore|slut)\b"),
    ("harassment", "en", S, r"\bpiece of (?:shit|trash|garbage|crap)\b|\b(?:fucking|stupid) (?:bitch|whore|slut|retard)\b"),
    ("harassment", "en", S, r"\b(?:make|turn) (?:his|her|their|my \w+'s|\w+'s) life (?:a )?(?:living )?hell\b|\b(?:destroy|ruin|wreck) (?:his|her|their|my \w+'s|\w+'s) (?:reputation|life|career)\b"),
    ("harassment", "en", M, r"\b(?:humiliate|bully|mock|insult|harass|shame|dox+)\b.{0,30}\b(?:classmate|coworker|colleague|neighbou?r|ex|her|him|them|online)\b.{0,30}|\b(?:write|compose|draft)\b.{0,40}\b(?:insult|mean message|nasty message)\b"),
    ("harassment/threatening", "en", S, r"\bi know where (?:you|she|he|they) (?:live|lives|work|works|sleep|sleeps)\b"),
    ("harassment/threatening", "en", W, r"\b(?:you|she|he|they)(?:'ll| will| are going to|'re going to) (?:regret|pay for)\b"),
    ("harassment/threatening|violence", "en", S, r"\bi(?:'m| am)? (?:going to|gonna|will|'ll) (?:find|hunt down|hunt|get|hurt|kill|stab|shoot|beat|murder|end) (?:you|her|him|them)\b"),
    ("harassment/threatening|violence", "en", S, r"\b(?:kill|murder|stab|shoot|strangle|slit) (?:you|your throat)\b|\byou(?:'re| are) (?:dead|going to die)\b"),
    ("hate", "en", S, concat!(r"\b", en_groups!(), r"\b.{0,40}\b(?:are|is|were|being|as) (?:\w+ ){0,3}", en_dehuman!(), r"\b" )),
    ("hate", "en", M, concat!(r"\b(?:prove|proves|proving|show|shows|explain\w*) (?:that |why )?", en_groups!(), r" (?:are|is) (?:\w+ ){0,2}(?:inferior|stupid|evil|dirty|criminals|terrorists|", en_dehuman!(), r")" )),
    ("hate/threatening|hate|violence", "en", S, concat!(r"\b(?:all )?", en_groups!(), r"(?: people)? (?:should|must|need to|ought to) be (?:rounded up|killed|shot|exterminated|gassed|hanged|hung|eliminated|wiped out|burned|lynched)" )),
    ("hate/threatening|hate|violence", "en", S, concat!(r"\b(?:kill|exterminate|shoot|gas|eliminate|wipe out|round up|lynch|burn) (?:all|every|the) (?:of the )?", en_groups!()),
    ),
    ("illicit", "en", S, r"\b(?:cook|make|synthesi[sz]e|produce|manufacture|brew|extract)\b.{0,30}\b(?:meth|methamphetamine|crystal meth|heroin|cocaine|crack|fentanyl|lsd|mdma|ecstasy|ghb)\b"),
    ("illicit", "en", S, r"\b(?:buy|get|order|score|find|source)\b.{0,30}\b(?:cocaine|heroin|meth|methamphetamine|fentanyl|crack|mdma|ecstasy|lsd)\b|\b(?:cocaine|heroin|meth|fentanyl)\b.{0,20}\b(?:dealer|for sale|online)\b"),
    ("illicit", "en", W, r"\bwithout (?:getting |being )?(?:caught|detected|noticed|traced)\b"),
    ("illicit", "en", S, r"\b(?:write|create|make|draft|design|build|send)\b.{0,30}\bphishing\b|\bphishing (?:e-?mail|page|site|kit|text|sms) (?:that|to|which)\b"),
    ("illicit", "en", S, r"\b(?:hack|hack into|break into|get into|access)\b.{0,25}\b(?:account|phone|e-?mail|instagram|facebook|whatsapp|wi-?fi|icloud)\b.{0,20}|\b(?:steal|phish|harvest|grab)\b.{0,25}\bpasswords?\b"),
    ("illicit", "en", S, r"\b(?:counterfeit|fake) (?:money|banknotes|bills|passports?|id cards?)\b|\blaunder (?:money|cash)\b|\bmoney laundering scheme\b"),
    ("illicit/violent|illicit", "en", S, r"\b(?:build|make|assemble|construct|craft)\b.{0,30}\b(?:pipe ?bomb|bomb|explosives?|ied|molotov|grenade|nail bomb|detonator)\b"),
    ("illicit/violent|illicit|violence", "en", S, r"\b(?:best|undetectable|untraceable|which|what)\b.{0,15}\bpoison\b.{0,30}\b(?:kill|murder|to use on)\b|\b(?:kill|murder|poison)\b.{0,25}\b(?:someone|somebody|a person|him|her|my \w+)\b.{0,30}\bwithout\b.{0,20}\b(?:detected|caught|traced|noticed)\b"),
    ("illicit/violent|illicit", "en", S, r"\bhire (?:a )?(?:hitman|hit man|killer)\b|\b(?:3d[- ]print|build)\b.{0,20}\b(?:gun|rifle|firearm)\b"),
    ("self-harm/intent|self-harm", "en", S, r"\bi (?:want|am going|'m going|plan|intend|need|wanna|am about) to (?:kill myself|end my life|end it all|die|commit suicide|hang myself)\b|\bi(?:'m| am) (?:going to|gonna) kill myself\b"),
    ("self-harm/intent|self-harm", "en", S, r"\bi (?:don't|do not|no longer) want to (?:live|be alive|exist|wake up)\b|\bi want to die\b"),
    ("self-harm/intent|self-harm", "en", S, r"\b(?:i've been|i have been|i am|i'm|i keep|i) (?:cutting|hurting|harming|burning|starving) myself\b"),
    ("self-harm/intent|self-harm|medical/emergency", "en", S, r"\bi (?:took|swallowed|have taken|just took|overdosed on) (?:[1-9][0-9]+|a whole|all (?:my|the)|a bottle of|a box of|a lot of|a handful of)\b.{0,25}\b(?:pills|tablets|sleeping pills|painkillers|paracetamol)\b"),
    ("self-harm/instructions|self-harm", "en", S, r"\b(?:painless|easiest|quickest|best|surest|fastest|least painful)\b.{0,10}\b(?:way|method|means)s? (?:to|of) (?:commit suicide|kill (?:myself|yourself|oneself)|die|end (?:my|your|one's) life|suicide)\b"),
    ("self-harm/instructions|self-harm", "en", S, r"\bhow (?:to|do i|can i|should i) (?:commit suicide|kill myself|hang myself|overdose|slit my wrists)\b|\bhow many \w+ (?:pills|tablets)\b.{0,20}\b(?:kill|die|lethal|fatal)\b"),
    ("sexual", "en", S, r"\b(?:porn|porno|pornographic|erotic|smut|xxx|nsfw|explicit|dirty)\b.{0,15}\b(?:story|stories|scene|fanfic|fiction|text|roleplay|content)\b|\b(?:explicit|graphic|hardcore) sex\b|\bsex (?:story|scene)\b"),
    ("sexual/minors|sexual", "en", S, r"\b(?:sexual|sexy|erotic|porn\w*|sex|nude|naked|seduce|lewd)\b.{0,40}(?:\b(?:1[0-7]|[1-9])[- ]?(?:year|yr)s?[- ]?old\b|\b(?:child|children|kid|kids|minor|minors|underage|little girl|little boy|schoolgirl|schoolboy|preteen|toddler)\b)"),
    ("sexual/minors|sexual", "en", S, r"(?:\b(?:1[0-7]|[1-9])[- ]?(?:year|yr)s?[- ]?old\b|\b(?:child|kid|minor|underage|little girl|little boy|schoolgirl|preteen)\b).{0,30}\b(?:sexual|sexy|erotic|porn\w*|sex|nude|naked|lewd)\b"),
    ("violence", "en", W, r"\b(?:beat|hit|punch|kick|hurt|slap|strangle|choke|burn)\b.{0,12}\b(?:my )?(?:wife|husband|girlfriend|boyfriend|kids?|child|son|daughter|partner|mother|father|mom|dad|neighbou?r|someone|somebody)\b"),
    ("violence", "en", S, r"\b(?:bruises?|marks?|scars?|injur\w+)\b.{0,10}\b(?:don't|won't|do not|will not|wouldn't) (?:show|be visible|be seen)\b|\bwithout (?:leaving )?(?:any )?(?:bruises|marks|evidence)\b"),
    ("violence", "en", S, r"\b(?:kill|murder|stab|shoot|strangle|torture|poison)\b (?:someone|somebody|a person|people|my (?:wife|husband|boss|neighbou?r|father|mother|teacher))\b|\bhow (?:to|do i|can i) (?:kill|murder|torture) (?:a |an )?(?:person|human|man|woman|child)\b"),
    ("violence/graphic|violence", "en", W, r"\b(?:gory|gruesome|graphic|bloody|grisly|vivid)\b.{0,20}\b(?:details?|description|scene)\b|\bin (?:gory|gruesome|grisly) detail\b"),
    ("violence/graphic|violence", "en", W, r"\b(?:dismember\w*|disembowel\w*|decapitat\w*|mutilat\w*|flay\w*|eviscerat\w*|skinn\w+ alive)\b"),
    ("violence/graphic|violence", "en", W, r"\b(?:blood and guts|guts and blood|entrails|intestines|brains splatter\w*|spilling guts)\b"),
    ("medical/emergency", "en", W, r"\b(?:chest pains?|crushing pain|pain in (?:his|her|my) chest)\b"),
    ("medical/emergency", "en", W, r"\b(?:can't|cannot|can not|isn't|is not|not) (?:breathe|breathing)\b|\bstruggling to breathe\b|\bturning blue\b"),
    ("medical/emergency", "en", W, r"\b(?:heart attack|stroke|unconscious|unresponsive|not waking up|seizure|anaphylaxis|overdos\w+|bleeding heavily|choking)\b"),
    // ---------------------------------------------------------------- fr
    ("harassment", "fr", S, r"\b(?:grosse?|moche|laide?|stupide|nulle?|conne)\b.{0,30}\b(?:ratée?|conne|connard|salope|pute|truie|vache|idiote?|débile|grosse)\b"),
    ("harassment", "fr", W, r"\bpersonne ne (?:t'|l'|les )?(?:aime|supporte|veut)\b"),
    ("harassment", "fr", M, r"\b(?:espèce d'|sale |pauvre )(?:ordure|connard|conne|merde|pute|salope|con)\b"),
    ("harassment", "fr", S, r"\b(?:pourrir|gâcher|détruire) (?:la |sa )?vie\b.{0,20}|\b(?:détruire|ruiner|salir) (?:sa |la )?réputation\b"),
    ("harassment/threatening", "fr", S, r"\bje sais où (?:tu habites|elle habite|il habite|tu vis|elle vit|il vit|vous habitez|tu travailles|elle travaille)\b"),
    ("harassment/threatening", "fr", W, r"\b(?:tu vas|elle va|il va|vous allez) le regretter\b|\btu (?:vas|va) (?:le )?payer\b"),
    ("harassment/threatening|violence", "fr", S, r"\bje vais (?:te|la|le|vous) (?:retrouver|tuer|buter|crever|frapper|égorger|descendre)\b|\bje vais te\b.{0,25}\b(?:tuer|buter|crever|égorger)\b|\bje (?:te|vais te) tue\w*\b"),
    ("hate", "fr", S, concat!(r"\b", fr_groups!(), r"\b.{0,40}\b(?:vermine|sous-hommes?|parasites|cafards|rats|animaux|inférieurs|race inférieure|sauvages|pas humains)" )),
    ("hate/threatening|hate|violence", "fr", S, concat!(r"\b(?:rassembler|exterminer|fusiller|éliminer|tuer|gazer|pendre|brûler|massacrer) (?:tous |toutes )?les ", fr_groups!()),
    ),
    ("hate/threatening|hate|violence", "fr", S, concat!(r"\b", fr_groups!(), r"\b.{0,40}\b(?:les fusiller|les exterminer|les gazer|les tuer|les éliminer|les pendre|devraient (?:être|mourir))" )),
    ("illicit", "fr", S, r"\b(?:fabriquer|faire|préparer|cuisiner|synthétiser|produire)\b.{0,30}\b(?:méthamphétamine|meth|crystal|héroïne|cocaïne|crack|fentanyl|lsd|ecstasy)\b"),
    ("illicit", "fr", S, r"\b(?:acheter|trouver|commander|me procurer|avoir)\b.{0,30}\b(?:cocaïne|coke|héroïne|méthamphétamine|fentanyl|crack|ecstasy)\b"),
    ("illicit", "fr", W, r"\bsans (?:me |se )?faire (?:prendre|choper|attraper|repérer)\b|\bsans être (?:détecté|repéré|pris|vu)\b"),
    ("illicit", "fr", S, r"\b(?:rédige|écris|crée|fais|prépare)\w*\b.{0,30}\b(?:phishing|hameçonnage)\b|\b(?:pirater|hacker)\b.{0,30}\b(?:compte|téléphone|mail|instagram|facebook|whatsapp)\b|\bvoler (?:les |des )?(?:mots de passe|codes)\b"),
    ("illicit/violent|illicit", "fr", S, r"\b(?:fabriquer|faire|construire|assembler)\b.{0,30}\b(?:bombe|explosif|cocktail molotov|grenade|détonateur)\b"),
    ("illicit/violent|illicit|violence", "fr", S, r"\bpoison\b.{0,25}\bpour tuer\b|\btuer quelqu'un\b.{0,20}\bsans (?:être|se faire|que)\b"),
    ("self-harm/intent|self-harm", "fr", S, r"\bje (?:veux|vais|voudrais|compte|dois) (?:me suicider|me tuer|mourir|en finir|me pendre)\b"),
    ("self-harm/intent|self-harm", "fr", S, r"\b(?:plus envie de|ne veux plus|n'ai plus envie de) vivre\b|\bje me (?:scarifie|coupe|mutile|fais du mal)\b"),
    ("self-harm/intent|self-harm|medical/emergency", "fr", S, r"\bj'ai (?:avalé|pris)\b.{0,20}(?:\b[1-9][0-9]+\b|toute (?:une|la) boîte|tout le tube|tous mes|plein de|une poignée de).{0,25}\b(?:somnifères|comprimés|cachets|pilules|médicaments)\b"),
    ("self-harm/instructions|self-harm", "fr", S, r"\b(?:façon|manière|moyen|méthode)\w* (?:la |le )?(?:moins douloureu\w+|plus rapide|plus sûre?|plus simple) (?:de|pour) (?:se suicider|me suicider|mourir|se tuer|me tuer)\b|\bcomment (?:se|me) (?:suicider|tuer|pendre)\b"),
    ("sexual", "fr", S, r"\b(?:histoire|récit|scène)s? (?:porno\w*|érotique|sexuelle)\b|\bporno\w* explicite\b|\bsexe (?:détaillé|explicite|cru)\b"),
    ("sexual/minors|sexual", "fr", S, r"\b(?:sexuel\w*|érotique|porno\w*|sexe|nue?s?)\b.{0,40}(?:\b(?:1[0-7]|[1-9]) ans\b|\b(?:enfant|enfants|fillette|petite fille|petit garçon|mineure?s?|gamine?)\b)"),
    ("violence", "fr", W, r"\b(?:frapper|battre|cogner|tabasser|gifler)\b.{0,15}\b(?:ma femme|mon mari|ma copine|mon copain|mon enfant|mes enfants|quelqu'un)\b"),
    ("violence", "fr", S, r"\b(?:sans que|pour que)\b.{0,10}\b(?:les )?(?:bleus|marques|traces|coups)\b.{0,10}\b(?:se voient|se voie|apparaissent|paraissent)\b|\bsans laisser de (?:traces|marques|bleus)\b"),
    ("violence", "fr", S, r"\btuer (?:quelqu'un|une personne|ma femme|mon mari|mon voisin|mon patron)\b"),
    ("violence/graphic|violence", "fr", W, r"\b(?:détails? sanglants?|en détail sanglant|gore|sanglant\w*)\b"),
    ("violence/graphic|violence", "fr", W, r"\b(?:démemb\w+|dépec\w+|décapit\w+|éventr\w+|mutil\w+)\b"),
    ("violence/graphic|violence", "fr", W, r"\b(?:tripes|entrailles|boyaux|viscères)\b"),
    ("medical/emergency", "fr", W, r"\bdouleur (?:dans la|à la|de|en) poitrine\b|\bdouleur thoracique\b"),
    ("medical/emergency", "fr", W, r"\b(?:n'arrive (?:plus|pas)|ne peut (?:plus|pas)) (?:à )?respirer\b|\bne respire plus\b"),
    ("medical/emergency", "fr", W, r"\b(?:crise cardiaque|inconscient\w*|avc|perd connaissance|convuls\w+|overdose|surdose|saigne beaucoup)\b"),
    // ---------------------------------------------------------------- es
    ("harassment", "es", S, r"\b(?:gorda|gordo|fea|feo|estúpida|idiota|asquerosa)\b.{0,30}\b(?:perdedora?|fracasad[oa]|cerda|zorra|puta|vaca|inútil|fea)\b"),
    ("harassment", "es", W, r"\bnadie (?:te|la|lo|les)? ?(?:quiere|soporta|aguanta)\b|\ba la que nadie\b"),
    ("harassment", "es", M, r"\b(?:pedazo de|eres una?) (?:mierda|basura|imbécil|puta)\b"),
    ("harassment", "es", S, r"\bhacerle la vida imposible\b|\b(?:arruinar|destruir)(?:le)? (?:su |la )?(?:reputación|vida)\b"),
    ("harassment/threatening", "es", S, r"\bsé dónde (?:vives|vive|trabajas|trabaja|duermes|viven)\b"),
    ("harassment/threatening", "es", W, r"\b(?:te|se) (?:vas|va) a arrepentir\b|\bme las vas a pagar\b"),
    ("harassment/threatening|violence", "es", S, r"\b(?:voy a|te voy a|vamos a) (?:encontrarte|matarte|buscarte|matar|hacerte daño|reventarte|partirte)\b|\bte (?:voy a )?(?:mato|mataré|encontraré)\b"),
    ("hate", "es", S, concat!(r"\b", es_groups!(), r"\b.{0,40}\b(?:alimañas|infrahumanos|subhumanos|parásitos|cucarachas|ratas|animales|inferiores|plaga|escoria|no son humanos)\b" )),
    ("hate/threatening|hate|violence", "es", S, concat!(r"\b(?:reunir|exterminar|fusilar|matar|eliminar|gasear|quemar|ahorcar) a (?:todos )?(?:los |las )?", es_groups!()),
    ),
    ("hate/threatening|hate|violence", "es", S, concat!(r"\b", es_groups!(), r"\b.{0,40}\b(?:fusilarlos|exterminarlos|matarlos|eliminarlos|gasearlos|quemarlos)\b" )),
    ("illicit", "es", S, r"\b(?:cocinar|cocino|cocinas|hacer|hago|fabricar|preparar|sintetizar|producir)\b.{0,30}\b(?:metanfetamina|cristal|heroína|cocaína|crack|fentanilo|éxtasis)\b"),
    ("illicit", "es", S, r"\b(?:comprar|compro|conseguir|consigo|pillar)\b.{0,30}\b(?:cocaína|coca|heroína|metanfetamina|fentanilo|crack|éxtasis)\b"),
    ("illicit", "es", W, r"\bsin que (?:me|nos|lo|la) (?:pillen|descubran|detecten|atrapen)\b"),
    ("illicit", "es", S, r"\b(?:escribe|redacta|crea|haz)\w*\b.{0,30}\bphishing\b|\b(?:hackear|hackeo|piratear|entrar en)\b.{0,30}\b(?:cuenta|teléfono|móvil|correo|instagram|facebook|whatsapp)\b|\brobar (?:las |sus )?contraseñas\b"),
    ("illicit/violent|illicit", "es", S, r"\b(?:fabricar|hacer|construir|armar)\b.{0,30}\b(?:bomba|explosivo|molotov|granada|detonador)\b"),
    ("illicit/violent|illicit|violence", "es", S, r"\bveneno\b.{0,25}\bpara matar\b|\bmatar a alguien sin que\b"),
    ("self-harm/intent|self-harm", "es", S, r"\bquiero (?:suicidarme|matarme|morir|morirme|quitarme la vida|acabar con todo)\b|\bme voy a (?:suicidar|matar)\b"),
    ("self-harm/intent|self-harm", "es", S, r"\b(?:ya )?no quiero (?:seguir )?vivir\b|\bme (?:corto|lastimo|hago daño|autolesiono)\b"),
    ("self-harm/intent|self-harm|medical/emergency", "es", S, r"\bme (?:tomé|he tomado|trague|tragué)\b.{0,20}(?:\b[1-9][0-9]+\b|toda la caja|un bote entero|todas (?:las|mis)|un puñado de|muchas)\b.{0,25}\b(?:pastillas|somníferos|pastillas para dormir)\b"),
    ("self-harm/instructions|self-harm", "es", S, r"\b(?:forma|manera|modo|método)\w* (?:menos dolorosa?|más rápida?|más fácil|más segura?) (?:de|para) (?:suicidarse|suicidarme|matarse|matarme|morir)\b|\bcómo (?:suicidarse|suicidarme|ahorcarme)\b"),
    ("sexual", "es", S, r"\b(?:historia|relato|escena)s? (?:porno\w*|erótic\w+|sexual)\b|\bporno\w* explícit\w+\b|\bsexo (?:detallado|explícito)\b"),
    ("sexual/minors|sexual", "es", S, r"\b(?:sexual\w*|erótic\w+|porno\w*|sexo|desnud\w+)\b.{0,40}(?:\b(?:1[0-7]|[1-9]) años\b|\b(?:niña|niño|niñas|niños|menor|menores|nena)\b)"),
    ("violence", "es", W, r"\b(?:pego|pegar|golpear|golpeo|pegarle)\b.{0,15}\b(?:a )?(?:mi mujer|mi esposa|mi marido|mi novia|mi hijo|mi hija|alguien)\b"),
    ("violence", "es", S, r"\bsin que se (?:noten|vean) (?:los )?(?:moratones|moretones|marcas|golpes)\b|\bsin dejar (?:marcas|moratones)\b"),
    ("violence", "es", S, r"\bmatar a (?:alguien|una persona|mi mujer|mi marido|mi vecino|mi jefe)\b"),
    ("violence/graphic|violence", "es", W, r"\b(?:detalle sangriento|sangrient\w+|gore)\b"),
    ("violence/graphic|violence", "es", W, r"\b(?:descuartiz\w+|desmembr\w+|decapit\w+|destrip\w+|mutil\w+)\b"),
    ("violence/graphic|violence", "es", W, r"\b(?:vísceras|tripas|entrañas)\b"),
    ("medical/emergency", "es", W, r"\bdolor (?:en el|de) pecho\b"),
    ("medical/emergency", "es", W, r"\bno (?:puede|puedo) respirar\b|\bno respira\b"),
    ("medical/emergency", "es", W, r"\b(?:infarto|inconsciente|convulsi\w+|sobredosis|desmayad\w+|ataque al corazón)\b"),
    // ---------------------------------------------------------------- de
    ("harassment", "de", S, r"\b(?:fett\w*|hässlich\w*|dumm\w*|eklig\w*)\b.{0,30}\b(?:versager\w*|schlampe|kuh|sau|idiot\w*|loser\w*|hure)\b"),
    ("harassment", "de", W, r"\b(?:die|den|das) niemand mag\b|\bniemand mag (?:dich|sie|ihn)\b"),
    ("harassment", "de", M, r"\b(?:du )?stück (?:scheiße|dreck|mist)\b|\bdu (?:hure|schlampe|wichser|missgeburt)\b"),
    ("harassment", "de", S, r"\bleben zur hölle\b|\bruf (?:zerstören|ruinieren)\b"),
    ("harassment/threatening", "de", S, r"\bich weiß,? wo (?:du wohnst|sie wohnt|er wohnt|du arbeitest|ihr wohnt)\b"),
    ("harassment/threatening", "de", W, r"\b(?:wird|wirst) (?:es|das) (?:noch )?bereuen\b|\bes (?:noch )?bereuen wird\b"),
    ("harassment/threatening|violence", "de", S, r"\bich (?:finde|kriege|erwische|hole) dich\b|\b(?:bringe?|mach) dich (?:um|kalt)\b|\bich (?:töte|ersteche|erschieße) dich\b"),
    ("hate", "de", S, concat!(r"\b", de_groups!(), r"\b.{0,40}\b(?:ungeziefer|untermenschen|parasiten|ratten|kakerlaken|tiere|minderwertig\w*|abschaum)\b" )),
    ("hate/threatening|hate|violence", "de", S, concat!(r"\b", de_groups!(), r"\b.{0,30}\b(?:zusammentreiben|erschießen|vergasen|ausrotten|vernichten|umbringen|aufhängen|verbrennen)\b" )),
    ("illicit", "de", S, r"\b(?:koche|kochen|herstellen|stelle|mache|machen|synthetisieren)\b.{0,30}\b(?:crystal|meth\w*|heroin|kokain|crack|fentanyl|ecstasy)\b|\b(?:crystal meth|meth|heroin|kokain|fentanyl)\b.{0,25}\b(?:kochen|herstellen|machen)\b"),
    ("illicit", "de", S, r"\b(?:kaufen|besorgen|bestellen)\b.{0,30}\b(?:kokain|koks|heroin|crystal|meth|fentanyl|crack)\b|\b(?:kokain|koks|heroin|crystal|meth|fentanyl|crack)\b.{0,25}\b(?:kaufen|besorgen|bestellen)\b"),
    ("illicit", "de", W, r"\bohne (?:erwischt|entdeckt|bemerkt) zu werden\b"),
    ("illicit", "de", S, r"\bphishing-?(?:mail|e-mail|nachricht|seite|sms)\b|\b(?:hacke|hacken|knacke|knacken)\b.{0,30}\b(?:konto|account|handy|e-mail|instagram|facebook)\b|\bpasswörter\b.{0,25}\b(?:stehlen|klauen|abgreifen|komme)\b"),
    ("illicit/violent|illicit", "de", S, r"\b(?:baue|bauen|basteln|herstellen|bastle)\b.{0,30}\b(?:\w*bombe|sprengsatz|sprengstoff|molotow\w*|granate)\b|\b(?:rohrbombe|sprengsatz)\b.{0,20}\b(?:bauen|basteln)\b"),
    ("illicit/violent|illicit|violence", "de", S, r"\bgift\b.{0,60}\b(?:jemanden|einen menschen|meinen \w+|meine \w+)\b.{0,30}\b(?:töten|umbringen|vergiften)\b|\bjemanden\b.{0,20}\b(?:unbemerkt|unentdeckt)\b.{0,10}\b(?:töten|umbringen|vergiften)\b"),
    ("self-harm/intent|self-harm", "de", S, r"\bich (?:will|werde|möchte) mich\b.{0,25}\b(?:umbringen|töten|erhängen)\b|\bich (?:will|möchte) (?:sterben|mir das leben nehmen)\b"),
    ("self-harm/intent|self-harm", "de", S, r"\bich (?:will|möchte) nicht mehr leben\b|\bich (?:ritze|verletze|schneide) mich\b"),
    ("self-harm/intent|self-harm|medical/emergency", "de", S, r"\bich (?:habe|hab)\b.{0,20}(?:\b[1-9][0-9]+\b|eine ganze packung|die ganze packung|alle meine|eine handvoll)\b.{0,25}\b(?:schlaftabletten|tabletten|pillen)\b.{0,10}\b(?:genommen|geschluckt)\b"),
    ("self-harm/instructions|self-harm", "de", S, r"\b(?:schmerzlos\w*|schnellst\w*|sicherst\w*|einfachst\w*)\b.{0,10}\b(?:art|weg|methode|möglichkeit)\b.{0,5}\b(?:selbstmord|suizid|mich umzubringen|sich umzubringen)\b|\bwie (?:bringe ich mich|kann ich mich) um\b"),
    ("sexual", "de", S, r"\b(?:porno|sex|erotik)-?(?:geschichte|story|szene)\w*\b|\berotische geschichte\b|\b(?:expliziter|detailliertem|detaillierter|harter) sex\b"),
    ("sexual/minors|sexual", "de", S, r"\b(?:sex\w*|erotisch\w*|porno\w*|nackt\w*)\b.{0,40}(?:\b(?:1[0-7]|[1-9])-?jährig\w*\b|\b(?:kind|kinder|mädchen|jungen|minderjährig\w*|schulmädchen)\b)"),
    ("violence", "de", W, r"\b(?:schlage|schlagen|verprügeln|verprügle|prügeln|verhauen)\b.{0,15}\b(?:meine frau|meinen mann|meine freundin|mein kind|meine kinder|jemanden)\b"),
    ("violence", "de", S, r"\bohne dass man (?:die )?(?:blauen flecken|spuren|verletzungen|wunden)\b|\bkeine (?:blauen flecken|spuren) (?:sieht|bleiben)\b"),
    ("violence", "de", S, r"\bjemanden (?:töten|umbringen|erstechen|erschießen|foltern)\b"),
    ("violence/graphic|violence", "de", W, r"\bblutig\w* (?:einzelheiten|details)\b|\bin blutigen\b|\bgore\b"),
    ("violence/graphic|violence", "de", W, r"\b(?:zerstückel\w*|zerteil\w*|enthaupt\w*|ausweid\w*|verstümmel\w*)\b"),
    ("violence/graphic|violence", "de", W, r"\b(?:gedärm\w*|eingeweide)\b"),
    ("medical/emergency", "de", W, r"\bschmerzen in der brust\b|\bbrustschmerz\w*\b"),
    ("medical/emergency", "de", W, r"\b(?:bekommt|kriegt) keine luft\b|\bkann nicht (?:mehr )?atmen\b|\batmet nicht\b"),
    ("medical/emergency", "de", W, r"\b(?:herzinfarkt|bewusstlos|schlaganfall|überdosis|krampfanfall)\b"),
    // ---------------------------------------------------------------- it
    ("harassment", "it", S, r"\b(?:cicciona|brutta|grassa|stupida|schifosa)\b.{0,30}\b(?:fallita|perdente|troia|vacca|scema|cretina|brutta)\b"),
    ("harassment", "it", W, r"\bnessuno (?:ti|la|lo|li)? ?(?:sopporta|ama|vuole)\b|\bche nessuno (?:sopporta|ama|vuole)\b"),
    ("harassment", "it", M, r"\bpezzo di (?:merda|stronzo)\b|\b(?:brutta|sporca) (?:troia|puttana)\b"),
    ("harassment", "it", S, r"\brovinar\w* la (?:vita|reputazione)\b"),
    ("harassment/threatening", "it", S, r"\bso dove (?:abiti|abita|vivi|vive|lavori|lavora)\b"),
    ("harassment/threatening", "it", W, r"\b(?:te|se) ne pentir\w+\b|\bla pagherai\b"),
    ("harassment/threatening|violence", "it", S, r"\bti (?:troverò|ammazzerò|ucciderò|farò del male|ammazzo|uccido|spacco)\b"),
    ("hate", "it", S, concat!(r"\b", it_groups!(), r"\b.{0,40}\b(?:parassiti|subumani|vermi|scarafaggi|ratti|bestie|animali|inferiori|feccia)\b" )),
    ("hate/threatening|hate|violence", "it", S, concat!(r"\b(?:radunare|sterminare|fucilare|uccidere|eliminare|ammazzare|bruciare) tutti (?:gli |i |le )?", it_groups!()),
    ),
    ("hate/threatening|hate|violence", "it", S, concat!(r"\b", it_groups!(), r"\b.{0,40}\b(?:fucilarli|sterminarli|ucciderli|eliminarli|ammazzarli|bruciarli)\b" )),
    ("illicit", "it", S, r"\b(?:prepara|preparare|fare|cucinare|produrre|sintetizzare)\b.{0,30}\b(?:metanfetamina|cocaina|eroina|crack|fentanyl|crystal|ecstasy)\b"),
    ("illicit", "it", S, r"\b(?:comprare|procurarmi|trovare|comprarmi)\b.{0,30}\b(?:cocaina|eroina|metanfetamina|fentanyl|crack)\b"),
    ("illicit", "it", W, r"\bsenza (?:farmi|farsi|essere) (?:beccare|scoprire|scoperti|scoperto|beccato)\b"),
    ("illicit", "it", S, r"\b(?:scrivi|crea|prepara)\w*\b.{0,30}\bphishing\b|\b(?:hackerare|violare|bucare)\b.{0,30}\b(?:account|profilo|telefono|email|instagram|facebook)\b|\brubare (?:le )?password\b"),
    ("illicit/violent|illicit", "it", S, r"\b(?:costruire|fabbricare|fare|preparare)\b.{0,30}\b(?:bomba|ordigno|esplosivo|molotov|granata)\b"),
    ("illicit/violent|illicit|violence", "it", S, r"\bveleno\b.{0,30}\bper uccidere\b|\buccidere qualcuno senza\b"),
    ("self-harm/intent|self-harm", "it", S, r"\bvoglio (?:uccidermi|ammazzarmi|suicidarmi|morire|farla finita|togliermi la vita)\b"),
    ("self-harm/intent|self-harm", "it", S, r"\bnon voglio più vivere\b|\bmi (?:taglio|ferisco|faccio del male)\b"),
    ("self-harm/intent|self-harm|medical/emergency", "it", S, r"\bho (?:preso|ingoiato)\b.{0,20}(?:\b[1-9][0-9]+\b|tutta la scatola|un'intera confezione|tutte le|una manciata di)\b.{0,25}\b(?:sonniferi|pillole|compresse|pastiglie)\b"),
    ("self-harm/instructions|self-harm", "it", S, r"\b(?:modo|maniera|metodo) (?:meno doloroso|più rapido|più facile|più sicuro) (?:per|di) (?:suicidarsi|suicidarmi|uccidersi|uccidermi|morire)\b|\bcome (?:suicidarsi|suicidarmi|uccidermi)\b"),
    ("sexual", "it", S, r"\b(?:racconto|storia|scena) (?:porno\w*|erotic\w+|sessuale)\b|\bporno\w* esplicit\w+\b|\bsesso (?:dettagliato|esplicito)\b"),
    ("sexual/minors|sexual", "it", S, r"\b(?:sessual\w*|erotic\w+|porno\w*|sesso|nud\w+)\b.{0,40}(?:\b(?:1[0-7]|[1-9]) anni\b|\b(?:bambin\w+|minorenn\w+|ragazzina|ragazzino)\b)"),
    ("violence", "it", W, r"\b(?:picchiare|picchio|menare|prendere a botte)\b.{0,15}\b(?:mia moglie|mio marito|la mia ragazza|mio figlio|mia figlia|qualcuno)\b"),
    ("violence", "it", S, r"\bsenza che si vedano (?:i )?(?:lividi|segni)\b|\bsenza lasciare (?:segni|lividi)\b"),
    ("violence", "it", S, r"\buccidere (?:qualcuno|una persona|mia moglie|mio marito)\b"),
    ("violence/graphic|violence", "it", W, r"\b(?:sanguinos\w+|splatter|cruent\w+)\b"),
    ("violence/graphic|violence", "it", W, r"\b(?:smembr\w+|squart\w+|decapit\w+|sventr\w+|mutil\w+)\b"),
    ("violence/graphic|violence", "it", W, r"\b(?:budella|viscere|interiora)\b"),
    ("medical/emergency", "it", W, r"\bdolore al petto\b"),
    ("medical/emergency", "it", W, r"\bnon riesce a respirare\b|\bnon respira\b"),
    ("medical/emergency", "it", W, r"\b(?:infarto|svenut\w+|incoscient\w+|privo di sensi|overdose|convulsion\w+)\b"),
    // ---------------------------------------------------------------- ru
    ("harassment", "ru", S, r"\b(?:жирн\w+|уродин\w+|тупая|тупой|страшн\w+|мерзк\w+)\b.{0,30}\b(?:неудачни\w+|уродин\w+|шлюх\w+|дур\w+|свинь\w+|корова|ничтожеств\w+)"),
    ("harassment", "ru", W, r"\bникто (?:тебя |ее |его )?не (?:любит|выносит|терпит)\b"),
    ("harassment", "ru", W, r"\b(?:мразь|тварь|ублюд\w+|сука|урод|чмо)\b"),
    ("harassment", "ru", S, r"\b(?:испортить|сломать|превратить) (?:ей |ему |им )?жизнь\b|\b(?:уничтожить|испортить) (?:ее |его )?репутаци\w+\b"),
    ("harassment/threatening", "ru", S, r"\bя знаю,? где (?:ты живешь|она живет|он живет|вы живете|живешь|живет|ты работаешь)"),
    ("harassment/threatening", "ru", W, r"\b(?:она|он|ты|вы) (?:пожалеет|пожалеешь|пожалеете)\b"),
    ("harassment/threatening|violence", "ru", S, r"\bя (?:найду|достану|выслежу) тебя\b|\b(?:убью|прикончу|зарежу|пристрелю) тебя\b|\bтебя (?:убью|прикончу|зарежу)\b|\bнайду тебя и убью\b"),
    ("hate", "ru", S, concat!(r"\b", ru_groups!(), r"\b.{0,40}\b(?:паразит\w*|недочеловек\w*|нелюд\w*|скот\w*|таракан\w*|крыс\w*|животны\w*|вредител\w*|отброс\w*)" )),
    ("hate/threatening|hate|violence", "ru", S, concat!(r"\b(?:всех )?", ru_groups!(), r"\b.{0,30}\b(?:собрать|расстрелять|уничтожить|истребить|перебить|повесить|убить|сжечь)\b" )),
    ("hate/threatening|hate|violence", "ru", S, concat!(r"\b(?:расстрелять|уничтожить|истребить|перебить|повесить|убить|сжечь) (?:всех )?", ru_groups!()),
    ),
    ("illicit", "ru", S, r"\b(?:сварить|приготовить|сделать|синтезировать|изготовить|варить)\b.{0,30}\b(?:метамфетамин\w*|мет|героин\w*|кокаин\w*|фентанил\w*|мефедрон\w*|амфетамин\w*)"),
    ("illicit", "ru", S, r"\b(?:купить|достать|заказать|взять)\b.{0,30}\b(?:кокаин\w*|героин\w*|мефедрон\w*|метамфетамин\w*|наркотик\w*|закладк\w*|амфетамин\w*)"),
    ("illicit", "ru", W, r"\bчтобы не (?:поймали|спалили|заметили|нашли)\b"),
    ("illicit", "ru", S, r"\bфишингов\w+ (?:письм\w+|сайт\w*|страниц\w+|рассылк\w+)|\b(?:взломать|взлом)\b.{0,30}\b(?:аккаунт\w*|страниц\w+|почт\w+|телефон\w*|вконтакте|инстаграм\w*|телеграм\w*)|\bукрасть (?:пароли|данные карт)"),
    ("illicit/violent|illicit", "ru", S, r"\b(?:сделать|собрать|изготовить|смастерить)\b.{0,30}\b(?:бомб\w+|взрывчатк\w+|взрывн\w+ устройств\w+|коктейль молотова|гранат\w+)|\bсамодельн\w+ (?:бомб\w+|взрывчатк\w+)"),
    ("illicit/violent|illicit|violence", "ru", S, r"\bяд\w*\b.{0,40}\bубить\b|\bубить (?:человека|кого-то|кого-нибудь)\b.{0,10}\bнезаметно\b"),
    ("self-harm/intent|self-harm", "ru", S, r"\b(?:хочу|собираюсь|решил|решила) (?:покончить с собой|умереть|убить себя|повеситься|свести счеты с жизнью)"),
    ("self-harm/intent|self-harm", "ru", S, r"\bне хочу (?:больше )?жить\b|\bбольше не хочу жить\b|\bрежу (?:себе )?(?:руки|вены|себя)\b|\b(?:причиняю|наношу) себе (?:вред|порезы|боль)\b"),
    ("self-harm/intent|self-harm|medical/emergency", "ru", S, r"\b(?:выпил|выпила|принял|приняла|проглотил\w*|наглотал\w*)\b.{0,20}(?:\b[1-9][0-9]+\b|всю пачку|целую пачку|все|горсть)\b.{0,25}\b(?:таблет\w+|снотворн\w+)"),
    ("self-harm/instructions|self-harm", "ru", S, r"\b(?:безболезненн\w+|быстр\w+|легк\w+|надежн\w+) способ\w* (?:самоубийства|покончить с собой|умереть|суицида|убить себя)|\bкак (?:покончить с собой|повеситься|убить себя)\b"),
    ("sexual", "ru", S, r"\b(?:порнографическ\w+|порно|эротическ\w+|откровенн\w+) (?:рассказ\w*|истори\w+|сцен\w+)|\bподробн\w+ секс\w*"),
    ("sexual/minors|sexual", "ru", S, r"\b(?:эротическ\w+|сексуальн\w+|порно\w*|секс\w*|голы\w+)\b.{0,40}(?:\b(?:1[0-7]|[1-9])-?летн\w+|\b(?:девочк\w+|мальчик\w+|ребен\w+|детей|несовершеннолетн\w+|школьниц\w+))"),
    ("violence", "ru", W, r"\b(?:избить|бить|побить|ударить|избивать)\b.{0,15}\b(?:жену|мужа|девушку|ребенка|детей|кого-то|человека)\b"),
    ("violence", "ru", S, r"\bчтобы не было видно (?:синяков|следов)\b|\bне оставляя (?:синяков|следов)\b"),
    ("violence", "ru", S, r"\bубить (?:человека|кого-то|кого-нибудь|жену|мужа|соседа|начальника)\b"),
    ("violence/graphic|violence", "ru", W, r"\bкровав\w+ подробност\w+|\bв кровавых\b"),
    ("violence/graphic|violence", "ru", W, r"\b(?:расчлен\w+|обезглав\w+|выпотрош\w+)"),
    ("violence/graphic|violence", "ru", W, r"\b(?:кишк\w+|внутренност\w+|кишечник\w*)"),
    ("medical/emergency", "ru", W, r"\bбол\w* в груди\b"),
    ("medical/emergency", "ru", W, r"\bне может дышать\b|\bне дышит\b|\bзадыхается\b"),
    ("medical/emergency", "ru", W, r"\b(?:инфаркт\w*|без сознания|потерял\w* сознание|инсульт\w*|передозировк\w+|судорог\w+)"),
    // ---------------------------------------------------------------- et
    ("harassment", "et", S, r"\b(?:paks|kole|loll|rumal|vastik)\b.{0,30}\b(?:luuser|lehm|lits|idioot|tola|nõme|kole|mõttetu)\b"),
    ("harassment", "et", W, r"\bkeegi ei (?:salli|armasta|taha|kannata)\b"),
    ("harassment", "et", W, r"\b(?:kõntsakott|sitapea|tõbras|lurjus|mölakas|sitt)\b"),
    ("harassment", "et", S, r"\belu põrguks\b|\b(?:maine|hea nime) (?:hävitada|rikkuda)\b"),
    ("harassment/threatening", "et", S, r"\btean,? kus (?:sa elad|ta elab|te elate|sa töötad|ta töötab)\b"),
    ("harassment/threatening", "et", W, r"\b(?:ta|sa|te) (?:kahetse\w*|maksad selle eest)\b"),
    ("harassment/threatening|violence", "et", S, r"\bma leian su\b|\btapan (?:su|sind)\b|\b(?:su|sind) (?:ära )?tappa\b|\blasen su maha\b"),
    ("hate", "et", S, concat!(r"\b", et_groups!(), r"\b.{0,40}\b(?:kahjurid|alaminimesed|parasiidid|prussakad|rotid|loomad|saast|alam rass)\b" )),
    ("hate/threatening|hate|violence", "et", S, concat!(r"\b", et_groups!(), r"\b.{0,40}\b(?:kokku ajada|maha lasta|hävitada|tappa|üles puua|põletada)\b" )),
    ("illicit", "et", S, r"\b(?:valmistada|valmistan|teha|teen|keeta|toota)\b.{0,40}\b(?:metamfetamiin\w*|amfetamiin\w*|heroiin\w*|kokaiin\w*|fentanüül\w*)|\b(?:metamfetamiin\w*|amfetamiin\w*|heroiin\w*|kokaiin\w*)\b.{0,30}\b(?:valmistada|teha|keeta)\b"),
    ("illicit", "et", S, r"\b(?:osta|ostan|hankida|tellida)\b.{0,30}\b(?:kokaiin\w*|heroiin\w*|amfetamiin\w*|metamfetamiin\w*|narkoti\w+)|\b(?:kokaiin\w*|heroiin\w*|amfetamiin\w*|narkoti\w+)\b.{0,20}\b(?:osta|hankida|tellida)\b"),
    ("illicit", "et", W, r"\bvahele ei jää\b|\bnii, et keegi ei märka\b"),
    ("illicit", "et", S, r"\b(?:õngitsus\w*|phishing\w*)\b|\b(?:häkkida|murda sisse)\b.{0,30}\b(?:konto\w*|parool\w*|telefoni\w*|e-post\w*)|\b(?:paroole|paroolid|salasõnu|pangaparoole)\b.{0,20}\b(?:välja petta|varastada|kätte saada)\b"),
    ("illicit/violent|illicit", "et", S, r"\b(?:ehitada|teha|valmistada|meisterdada|ehitan)\b.{0,30}\b(?:\w*pomm\w*|lõhkeaine\w*|lõhkeseadeldis\w*|molotov\w*)|\b(?:torupomm\w*|lõhkeseadeldis\w*)"),
    ("illicit/violent|illicit|violence", "et", S, r"\bmürk\w*\b.{0,60}\b(?:tapmiseks|tappa|mürgitada)\b|\bmärkamatu\w* (?:tapmiseks|tappa)\b"),
    ("self-harm/intent|self-harm", "et", S, r"\b(?:ma )?tahan\b.{0,25}\b(?:end|ennast) ära tappa\b|\btahan surra\b|\btahan (?:teha )?enesetapu\w*"),
    ("self-harm/intent|self-harm", "et", S, r"\bma ei taha enam elada\b|\bei taha (?:enam )?elada\b|\b(?:lõikun|lõikan|vigastan) (?:end|ennast)\b"),
    ("self-harm/intent|self-harm|medical/emergency", "et", S, r"\b(?:võtsin|neelasin|jõin)\b.{0,20}(?:\b[1-9][0-9]+\b|terve karbi|kõik|peotäie)\b.{0,25}\b(?:unerohtu|unerohu\w*|tablett\w*|pill\w*|rohtu)\b"),
    ("self-harm/instructions|self-harm", "et", S, r"\b(?:valutum|kiireim|kindlaim|lihtsaim|parim)\b.{0,10}\b(?:viis|meetod|moodus)\b.{0,20}\b(?:enesetap\w+|end ära tappa|surra)\b|\bkuidas (?:end|ennast) ära tappa\b"),
    ("sexual", "et", S, r"\bporno\w*\b|\berootili\w+ (?:lugu|jutt|stseen)\b|\bseksilugu\b|\büksikasjaliku seksiga\b"),
    ("sexual/minors|sexual", "et", S, r"\b(?:seksuaal\w+|erootili\w+|porno\w*|seksi\w*|alasti)\b.{0,40}(?:\b(?:1[0-7]|[1-9])-aasta\w*|\b(?:laps\w*|tüdruk\w*|poiss\w*|alaealis\w*|koolitüdruk\w*))"),
    ("violence", "et", W, r"\b(?:peksta|lüüa|peksan|löön|peksmine)\b.{0,20}\b(?:naist|meest|last|lapsi|kedagi|tüdruksõpra)\b|\b(?:naist|meest|last|kedagi)\b.{0,10}\b(?:peksta|lüüa)\b"),
    ("violence", "et", S, r"\b(?:sinikaid|jälgi|vigastusi)\b.{0,10}\b(?:näha )?(?:poleks|ei oleks|ei jääks)\b|\bsinikaid näha poleks\b"),
    ("violence", "et", S, r"\bkedagi (?:tappa|mõrvata|pussitada)\b"),
    ("violence/graphic|violence", "et", W, r"\bveris\w+ (?:üksikasja\w*|detail\w*)"),
    ("violence/graphic|violence", "et", W, r"\b(?:tükelda\w*|lõhki lõigata|pea maha raiu\w*|sandista\w*)"),
    ("violence/graphic|violence", "et", W, r"\b(?:sisikon\w+|soolikad|soolikaid)\b"),
    ("medical/emergency", "et", W, r"\bvalu rinnus\b|\brinnavalu\b"),
    ("medical/emergency", "et", W, r"\bei saa hingata\b|\bei hinga\b|\blämbub\b"),
    ("medical/emergency", "et", W, r"\b(?:infarkt\w*|teadvuseta|minestas|insult\w*|üledoos\w*|krambid)\b"),
    // ---------------------------------------------------------------- ar
    // Arabic attaches articles and prepositions to words: no `\b` before.
    ("harassment", "ar", S, r"(?:سمينة|سمين|قبيحة|قبيح|غبية|غبي)\S*.{0,30}(?:فاشلة|فاشل|قبيحة|عاهرة|حقيرة|حمارة|غبية)"),
    ("harassment", "ar", W, r"لا احد يحب(?:ها|ك|ه|هم)"),
    ("harassment", "ar", W, r"يا (?:حقير|حقيرة|كلب|حيوان|وسخ|حمار|عاهرة)"),
    ("harassment", "ar", S, r"(?:تدمير|ادمر|دمر|اشوه|تشويه) سمعت(?:ها|ه|هم)|اجعل حيات(?:ها|ه) جحيما"),
    ("harassment/threatening", "ar", S, r"اعرف اين (?:تسكن|تعيش|يسكن|يعيش|تسكنين|تعيشين|تعمل|يعمل)"),
    ("harassment/threatening", "ar", W, r"(?:ستندم|ستندمين|سيندم|ستدفع الثمن)"),
    ("harassment/threatening|violence", "ar", S, r"(?:ساجدك|ساقتلك|ساذبحك|سانتقم منك|اقتلك|سوف اقتلك|ساؤذيك)"),
    ("hate", "ar", S, concat!(ar_groups!(), r".{0,40}(?:حشرات|اقل من البشر|دون البشر|حيوانات|طفيليات|جرذان|صراصير|قذارة|ليسوا بشرا)" )),
    ("hate/threatening|hate|violence", "ar", S, concat!(ar_groups!(), r".{0,40}(?:اعدام|قتل|ابادة|رميا بالرصاص|حرق|ذبح)" )),
    ("hate/threatening|hate|violence", "ar", S, concat!(r"(?:جمع|قتل|اعدام|ابادة|حرق|ذبح) (?:كل |جميع )?", ar_groups!()),
    ),
    ("illicit", "ar", S, r"(?:اصنع|يصنع|صنع|تصنيع|تحضير|احضر|اطبخ|طبخ)\S*.{0,30}(?:الميثامفيتامين|ميثامفيتامين|الميث|الكوكايين|كوكايين|الهيروين|هيروين|الكريستال|المخدرات|الفنتانيل)"),
    ("illicit", "ar", S, r"(?:اشتري|شراء|احصل على|اجد)\S*.{0,30}(?:الكوكايين|كوكايين|الهيروين|هيروين|المخدرات|الحشيش|ميثامفيتامين)"),
    ("illicit", "ar", W, r"دون ان (?:يقبض|يكتشف|يلاحظ)|بدون ان (?:يقبض|يكتشف)"),
    ("illicit", "ar", S, r"(?:تصيد|التصيد) (?:احتيالي|الاحتيالي)|رسالة تصيد|(?:اخترق|اختراق|تهكير|اهكر)\S*.{0,30}(?:حساب|هاتف|فيسبوك|انستغرام|واتساب|بريد)|سرقة كلمات (?:المرور|السر)"),
    ("illicit/violent|illicit", "ar", S, r"(?:اصنع|يصنع|صنع|تصنيع|بناء|اركب|تركيب)\S*.{0,30}(?:قنبلة|قنابل|متفجرات|عبوة ناسفة|مولوتوف)"),
    ("illicit/violent|illicit|violence", "ar", S, r"(?:^|\s)(?:ال)?سم\s+(?:ل|)قتل|قتل (?:شخص|احد|انسان)\S* (?:دون|بدون) ان"),
    ("self-harm/intent|self-harm", "ar", S, r"(?:اريد|اود|ساقوم|سوف|ارغب في) (?:ان )?(?:انتحر|اقتل نفسي|اموت|انهي حياتي|الانتحار)"),
    ("self-harm/intent|self-harm", "ar", S, r"(?:لم اعد|لا) اريد (?:ان )?اعيش|(?:اجرح|اوذي|اؤذي|اقطع|اجرح) نفسي"),
    ("self-harm/intent|self-harm|medical/emergency", "ar", S, r"(?:تناولت|ابتلعت|اخذت|بلعت)\S*.{0,20}(?:[1-9][0-9]+|علبة كاملة|كل|الكثير من).{0,25}(?:حبة|حبوب|اقراص|حبات|قرص)"),
    ("self-harm/instructions|self-harm", "ar", S, r"طريقة.{0,30}(?:للانتحار|لقتل نفسي|للموت)|كيف (?:انتحر|اقتل نفسي)"),
    ("sexual", "ar", S, r"(?:قصة|قصص|مشهد|رواية) (?:اباحية|جنسية|سكس|ساخنة)|جنس (?:مفصل|صريح)"),
    ("sexual/minors|sexual", "ar", S, r"(?:جنسي\S*|اباحي\S*|جنس|عاري\S*).{0,40}(?:طفل\S*|قاصر\S*|عمرها \d+|عمره \d+|(?:1[0-7]|[1-9]) (?:سنة|سنوات|عاما)|بنت صغيرة)"),
    ("violence", "ar", W, r"(?:اضرب|ضرب|اعنف)\S* (?:زوجتي|زوجي|ابني|ابنتي|طفلي|اطفالي|احدا|شخصا)"),
    ("violence", "ar", S, r"(?:دون|بدون) ان (?:تظهر|يظهر) (?:الكدمات|الاثار|العلامات)"),
    ("violence", "ar", S, r"(?:قتل|اقتل) (?:شخص|احد|انسان|زوجتي|زوجي|جاري)"),
    ("violence/graphic|violence", "ar", W, r"(?:تفاصيل دموية|بتفاصيل دموية|دموية)"),
    ("violence/graphic|violence", "ar", W, r"(?:تقطع جثة|تقطيع|تمزيق الجثة|سلخ|جثة)"),
    ("violence/graphic|violence", "ar", W, r"(?:الاحشاء|الامعاء|احشاء)"),
    ("medical/emergency", "ar", W, r"الم في (?:صدره|الصدر|صدري|صدرها)"),
    ("medical/emergency", "ar", W, r"(?:لا يستطيع|لا تستطيع|لا استطيع) التنفس|لا يتنفس|ضيق (?:في )?التنفس"),
    ("medical/emergency", "ar", W, r"(?:نوبة قلبية|فاقد الوعي|غائب عن الوعي|اغمي عليه|جلطة|جرعة زائدة)"),
    // ---------------------------------------------------------------- sw
    ("harassment", "sw", W, r"\b(?:ni|wewe ni|yeye ni) (?:mnene|mjinga|mpumbavu|malaya|takataka|mbaya sana)\b"),
    ("harassment", "sw", W, r"\bhakuna anayem(?:penda|taka|jali)\b"),
    ("harassment", "sw", W, r"\b(?:wewe takataka|mpumbavu wewe|mjinga wewe|malaya wewe)\b"),
    ("harassment", "sw", S, r"\b(?:kuharibu|haribu) (?:sifa|maisha) (?:yake|zake)\b"),
    ("harassment/threatening", "sw", S, r"\bnajua (?:unapoishi|anapoishi|unakoishi|anakoishi|mahali (?:unapoishi|anapoishi))\b"),
    ("harassment/threatening", "sw", W, r"\b(?:atajuta|utajuta|mtajuta)\b"),
    ("harassment/threatening|violence", "sw", S, r"\b(?:nitakutafuta|nitakuua|nitakuchinja|nitakupiga|kukuua)\b"),
    ("hate", "sw", S, concat!(r"\b", sw_groups!(), r"\b.{0,40}\b(?:wadudu|si binadamu|mende|panya|wanyama|vimelea|nyoka|takataka)\b" )),
    ("hate/threatening|hate|violence", "sw", S, concat!(r"\b", sw_groups!(), r"\b.{0,40}\b(?:kupigwa risasi|kuuawa|kuangamizwa|kuchinjwa|kuchomwa moto)\b" )),
    ("illicit", "sw", S, r"\b(?:kutengeneza|kupika|kuzalisha)\b.{0,30}\b(?:methamphetamine|meth|heroini|heroin|kokeini|cocaine|unga|dawa za kulevya)\b"),
    ("illicit", "sw", S, r"\b(?:kununua|kupata|nunua)\b.{0,30}\b(?:kokeini|heroini|cocaine|heroin|dawa za kulevya|unga)\b|\b(?:kokeini|heroini|cocaine)\b.{0,20}\bwapi\b"),
    ("illicit", "sw", W, r"\bbila (?:kukamatwa|kugunduliwa|kujulikana)\b"),
    ("illicit", "sw", S, r"\b(?:barua pepe|ujumbe) (?:ya|wa) ulaghai\b|\bphishing\b|\b(?:kuiba|iba) (?:nywila|nenosiri)\b|\b(?:kudukua|kuingilia)\b.{0,30}\b(?:akaunti|simu|barua pepe)\b"),
    ("illicit/violent|illicit", "sw", S, r"\b(?:kutengeneza|kujenga|kuunda)\b.{0,30}\b(?:bomu|mabomu|vilipuzi|milipuko)\b"),
    ("illicit/violent|illicit|violence", "sw", S, r"\bsumu\b.{0,40}\b(?:kumuua|kuua)\b|\bkumuua mtu bila\b"),
    ("self-harm/intent|self-harm", "sw", S, r"\b(?:nataka|ninataka|nitaenda|nimeamua) (?:kujiua|kufa|kujitoa uhai)\b"),
    ("self-harm/intent|self-harm", "sw", S, r"\bsitaki kuishi\b|\b(?:ninajikata|najikata|najidhuru|ninajidhuru|ninajiumiza)\b"),
    ("self-harm/intent|self-harm|medical/emergency", "sw", S, r"\b(?:nimekunywa|nimemeza|nilimeza|nimechukua|nilikunywa)\b.{0,20}(?:\b[1-9][0-9]+\b|kopo zima|vyote|vingi)\b.{0,25}\b(?:vidonge|dawa)\b|\b(?:nimekunywa|nimemeza|nilimeza)\b.{0,10}\b(?:vidonge|dawa)\b.{0,20}\b(?:[1-9][0-9]+|vyote|vingi)\b"),
    ("self-harm/instructions|self-harm", "sw", S, r"\bnjia\b.{0,40}\b(?:ya |za )?kujiua\b|\bjinsi ya kujiua\b"),
    ("sexual", "sw", S, r"\bhadithi ya ngono\b|\bngono (?:iliyo wazi|ya kina|waziwazi)\b|\bfilamu za ngono\b"),
    ("sexual/minors|sexual", "sw", S, r"\b(?:ngono|kingono|uchi)\b.{0,40}\b(?:msichana|mvulana|mtoto|watoto|miaka (?:1[0-7]|[1-9])\b)"),
    ("violence", "sw", W, r"\b(?:kumpiga|nimpige|kupiga)\b.{0,15}\b(?:mke wangu|mume wangu|mtoto|watoto|mtu)\b"),
    ("violence", "sw", S, r"\bbila (?:michubuko|alama|makovu)\b.{0,10}\bkuonekana\b"),
    ("violence", "sw", S, r"\b(?:kumuua|kuua) (?:mtu|mke|mume|jirani)\b"),
    ("violence/graphic|violence", "sw", W, r"\bundani wa damu\b|\bkwa undani\b.{0,20}\bdamu\b"),
    ("violence/graphic|violence", "sw", W, r"\b(?:inavyokatwakatwa|kukatwakatwa|kukata vipande|kukatakata)\b"),
    ("violence/graphic|violence", "sw", W, r"\b(?:matumbo|utumbo)\b"),
    ("medical/emergency", "sw", W, r"\bmaumivu ya kifua\b"),
    ("medical/emergency", "sw", W, r"\b(?:hawezi|siwezi) kupumua\b|\bhapumui\b"),
    ("medical/emergency", "sw", W, r"\b(?:amezimia|hana fahamu|mshtuko wa moyo|kiharusi|amepoteza fahamu|amezidisha dozi)\b"),
    // ---------------------------------------------------------------- hi
    ("harassment", "hi", S, r"(?:मोटी|मोटा|बदसूरत|नाकारा|बेवकूफ|कमीनी|घटिया)[^।?!]{0,40}(?:मोटी|मोटा|बदसूरत|नाकारा|बेवकूफ|कमीनी|घटिया)"),
    ("harassment", "hi", W, r"कोई (?:पसंद नहीं करता|प्यार नहीं करता|नहीं चाहता)"),
    ("harassment", "hi", W, r"(?:कमीने|कमीना|हरामी|कुत्ते|कुतिया)"),
    ("harassment", "hi", S, r"(?:बदनाम कर|जिंदगी नरक|ज़िंदगी नरक)"),
    ("harassment/threatening", "hi", S, r"(?:मुझे )?पता है (?:कि )?(?:वह|वो|तुम|तू) कहां रह(?:ता|ती|ते)"),
    ("harassment/threatening", "hi", W, r"(?:पछताएगी|पछताएगा|पछताओगे|पछताना पड़ेगा)"),
    ("harassment/threatening|violence", "hi", S, r"(?:ढूंढकर|ढूंढ कर|ढूंढ़कर)[^।?!]{0,20}मार|जान से मार (?:दूंगा|दूंगी|डालूंगा)|तुझे (?:मार|जान से)"),
    ("hate", "hi", S, concat!(hi_groups!(), r"[^।?!]{0,40}(?:कीड़े|मकोड़े|इंसान से कम|जानवर|परजीवी|गंदगी|दीमक|नीच)" )),
    ("hate/threatening|hate|violence", "hi", S, concat!(hi_groups!(), r"[^।?!]{0,40}(?:गोली मार|मार देना|मार डालो|खत्म कर|जला दो|इकट्ठा करके)" )),
    ("illicit", "hi", S, r"(?:मेथामफेटामाइन|मेथ|कोकीन|हेरोइन|ड्रग्स|नशीली दवा|चरस|ब्राउन शुगर)[^।?!]{0,30}(?:बनाएं|बनाना|बनाते|बनाऊं|खरीदूं|खरीदना|खरीदें|कहां से|मिलेगी|मिलेगा)|(?:कहां से|कैसे) (?:खरीदूं|खरीदें)[^।?!]{0,20}(?:कोकीन|हेरोइन|ड्रग्स|मेथ)"),
    ("illicit", "hi", W, r"(?:पकड़े बिना|बिना पकड़े|पकड़ा न जाऊं)"),
    ("illicit", "hi", S, r"(?:फ़िशिंग|फिशिंग|phishing)[^।?!]{0,20}(?:ईमेल|मेल|संदेश)|पासवर्ड चुरा|(?:हैक|हैकिंग)[^।?!]{0,20}(?:अकाउंट|खाता|फोन|फ़ोन)"),
    ("illicit/violent|illicit", "hi", S, r"(?:पाइप बम|बम|विस्फोटक|देसी बम)[^।?!]{0,20}(?:कैसे बना|बनाने|बनाते|बनाएं)"),
    ("illicit/violent|illicit|violence", "hi", S, r"मारने के लिए[^।?!]{0,30}(?:ज़हर|जहर)|(?:ज़हर|जहर)[^।?!]{0,30}(?:मारने|मार दूं|मार सकते)"),
    ("self-harm/intent|self-harm", "hi", S, r"(?:आत्महत्या|खुदकुशी) (?:करना चाहत|करूंगा|करूंगी|कर लूंगा|कर लूंगी)|(?:मरना चाहता|मरना चाहती)"),
    ("self-harm/intent|self-harm", "hi", S, r"(?:जीना नहीं चाहत|और जीना नहीं)|खुद को (?:काटता|काटती|चोट पहुंचा|नुकसान पहुंचा)"),
    ("self-harm/intent|self-harm|medical/emergency", "hi", S, r"(?:[1-9][0-9]+|पूरी शीशी|सारी|ढेर सारी)[^।?!]{0,20}(?:गोलियां|गोलियाँ|टैबलेट)[^।?!]{0,10}खा (?:ली|लीं|लिया|लिए)"),
    ("self-harm/instructions|self-harm", "hi", S, r"(?:आत्महत्या|खुदकुशी) (?:करने )?का[^।?!]{0,25}तरीका|कैसे (?:आत्महत्या|खुदकुशी) कर"),
    ("sexual", "hi", S, r"(?:अश्लील|पोर्न|सेक्स|कामुक|यौन) (?:कहानी|कहानियां|वीडियो|दृश्य)|विस्तृत सेक्स"),
    ("sexual/minors|sexual", "hi", S, r"(?:यौन|अश्लील|सेक्स|पोर्न|कामुक|नग्न)[^।?!]{0,40}(?:(?:1[0-7]|[1-9]) साल|बच्ची|बच्चे|बच्चों|नाबालिग|लड़की)|(?:(?:1[0-7]|[1-9]) साल की|(?:1[0-7]|[1-9]) साल के|बच्ची|नाबालिग)[^।?!]{0,40}(?:यौन|अश्लील|सेक्स|पोर्न|कामुक|नग्न)"),
    ("violence", "hi", W, r"(?:पत्नी|पति|बच्चे|बच्चों|किसी) को[^।?!]{0,10}(?:पीटूं|पीटना|पीटूँ|मारूं|पीट)"),
    ("violence", "hi", S, r"(?:चोट के निशान|निशान) न (?:दिखें|दिखे|आएं)"),
    ("violence", "hi", S, r"(?:किसी को|पत्नी को|पति को) (?:मार डालूं|मार डालना|जान से मार)"),
    ("violence/graphic|violence", "hi", W, r"(?:खूनी विस्तार|खून से लथपथ|खूनी)"),
    ("violence/graphic|violence", "hi", W, r"(?:लाश के टुकड़े|टुकड़े-टुकड़े|टुकड़े टुकड़े)"),
    ("violence/graphic|violence", "hi", W, r"(?:आंतों|आंतें|अंतड़ियां)"),
    ("medical/emergency", "hi", W, r"(?:सीने|छाती) में दर्द"),
    ("medical/emergency", "hi", W, r"सांस नहीं ले (?:पा )?रह|सांस नहीं आ रही"),
    ("medical/emergency", "hi", W, r"(?:दिल का दौरा|बेहोश|हार्ट अटैक|ओवरडोज|दौरा पड़)"),
    // ------------------------------------------------ families, all languages
    // Urgency: a person asking what to do now (a second signal for an
    // emergency noun, never enough alone).
    ("medical/emergency", "en", W, r"\bwhat (?:do|should|can|must) i do\b|\bright now\b|\bhelp me\b.{0,10}\b(?:quick|now|please)\b"),
    ("medical/emergency", "fr", W, r"\bque (?:faire|dois-je faire)\b|\bqu'est-ce que je (?:dois faire|fais)\b"),
    ("medical/emergency", "es", W, r"\bqué (?:hago|debo hacer|tengo que hacer)\b"),
    ("medical/emergency", "de", W, r"\bwas (?:soll|muss|kann) ich (?:jetzt )?tun\b|\bwas tun\b"),
    ("medical/emergency", "it", W, r"\bcosa (?:faccio|devo fare|posso fare)\b|\bche (?:faccio|devo fare)\b"),
    ("medical/emergency", "ru", W, r"\bчто (?:мне )?(?:делать|сделать)\b"),
    ("medical/emergency", "et", W, r"\bmida (?:ma )?(?:tegema pean|teha|pean tegema)\b"),
    ("medical/emergency", "ar", W, r"ماذا (?:افعل|يجب ان افعل)"),
    ("medical/emergency", "sw", W, r"\b(?:nifanye nini|tufanye nini)\b"),
    ("medical/emergency", "hi", W, r"(?:मैं|हम) क्या करूं|क्या करें"),
    ("medical/emergency", "en", W, r"\b(?:swallowed|ate|drank)\b.{0,20}\b(?:pills|tablets|bleach|poison|medicine|batter(?:y|ies))\b"),
    ("medical/emergency", "de", W, r"\b(?:tabletten|medikamente|putzmittel|gift|batterie)\b.{0,15}\b(?:verschluckt|geschluckt|getrunken)\b"),
    ("medical/emergency", "fr", W, r"\b(?:avalé|bu)\b.{0,20}\b(?:comprimés|médicaments|javel|produit|pile)\b"),
    // Self-harm intent in other words.
    ("self-harm/intent|self-harm", "en", S, r"\b(?:end|take) my (?:own )?life\b|\bi (?:wish|want) (?:i was|i were) dead\b|\bi(?:'ve| have)? decided to (?:die|end it)\b"),
    ("self-harm/intent|self-harm", "en", W, r"\bi (?:can't|cannot) (?:go on|take (?:it|this) anymore|do this anymore)\b|\bno reason to live\b|\bi just want it (?:all )?to (?:stop|end)\b"),
    ("self-harm/intent|self-harm", "fr", S, r"\benvie de mourir\b|\bmettre fin à (?:mes jours|ma vie)\b|\bje veux en finir\b"),
    ("self-harm/intent|self-harm", "fr", W, r"\bje n'en peux plus\b|\bplus rien n'a de sens\b|\bplus de raison de vivre\b"),
    ("self-harm/intent|self-harm", "es", S, r"\bganas de morir\b|\b(?:quitarme|acabar con) (?:la|mi) vida\b|\bquiero desaparecer para siempre\b"),
    ("self-harm/intent|self-harm", "es", W, r"\bno puedo más\b|\bno tiene sentido vivir\b"),
    ("self-harm/intent|self-harm", "de", S, r"\b(?:will|möchte) (?:nur noch |einfach )?sterben\b|\bmein leben beenden\b|\bmir das leben nehmen\b"),
    ("self-harm/intent|self-harm", "de", W, r"\bhalte (?:das|es) nicht mehr aus\b|\bkeinen sinn mehr\b"),
    ("self-harm/intent|self-harm", "it", S, r"\b(?:la )?faccio finita\b|\btogliermi la vita\b|\bvoglio morire\b"),
    ("self-harm/intent|self-harm", "it", W, r"\bnon ce la faccio più\b|\bnon ha più senso\b"),
    ("self-harm/intent|self-harm", "ru", S, r"\bменя (?:уже )?не будет\b|\bуйти из жизни\b|\bхочу умереть\b|\bсвести сч[её]ты с жизнью\b"),
    ("self-harm/intent|self-harm", "ru", W, r"\bне могу больше\b|\bнет сил жить\b|\bнезачем жить\b"),
    ("self-harm/intent|self-harm", "et", S, r"\btahan (?:lihtsalt )?surra\b|\blõpetada oma elu\b|\bei jaksa enam elada\b"),
    ("self-harm/intent|self-harm", "et", W, r"\bei jaksa enam\b|\bpole mõtet elada\b"),
    ("self-harm/intent|self-harm", "ar", S, r"(?:انهاء|انهي) حياتي|اريد ان اموت|(?:افكر|افكر جديا) في الانتحار"),
    ("self-harm/intent|self-harm", "ar", W, r"لم اعد احتمل|لا استطيع الاستمرار"),
    ("self-harm/intent|self-harm", "sw", S, r"\b(?:nataka|ninataka) kufa\b|\bkujitoa uhai\b"),
    ("self-harm/intent|self-harm", "sw", W, r"\bnimechoka na maisha\b|\bsiwezi kuvumilia\b"),
    ("self-harm/intent|self-harm", "hi", S, r"(?:अपनी )?जान (?:लेना|दे देना) चाहत|मरना चाहत"),
    ("self-harm/intent|self-harm", "hi", W, r"(?:सहन|बर्दाश्त) नहीं (?:होता|हो रहा)"),
    // Self-harm methods: how many pills to die.
    ("self-harm/instructions|self-harm", "en", S, r"\blethal dose\b.{0,30}\b(?:to die|kill myself|for me)\b"),
    ("self-harm/instructions|self-harm", "fr", S, r"\bcombien de (?:comprimés|cachets|pilules)\b.{0,40}\b(?:mourir|me tuer|mortel\w*)\b"),
    ("self-harm/instructions|self-harm", "es", S, r"\bcuántas pastillas\b.{0,40}\b(?:morir|matarme|suicid\w+|mortal)\b"),
    ("self-harm/instructions|self-harm", "de", S, r"\bwie viele tabletten\b.{0,40}\b(?:sterben|tödlich|umzubringen)\b"),
    ("self-harm/instructions|self-harm", "it", S, r"\bquante (?:pillole|compresse)\b.{0,40}\b(?:morire|uccidermi|mortal\w*)\b"),
    ("self-harm/instructions|self-harm", "ru", S, r"\bсколько таблеток\b.{0,40}\b(?:умереть|смерт\w*|отравиться)"),
    ("self-harm/instructions|self-harm", "et", S, r"\bmitu tabletti\b.{0,40}\b(?:surra|surmav\w*)\b"),
    ("self-harm/instructions|self-harm", "ar", S, r"كم (?:حبة|قرص).{0,40}(?:للموت|لاموت|للانتحار)"),
    ("self-harm/instructions|self-harm", "sw", S, r"\bvidonge vingapi\b.{0,40}\b(?:kufa|kujiua)\b"),
    ("self-harm/instructions|self-harm", "hi", S, r"कितनी (?:गोलियां|गोली).{0,40}(?:मर|मौत)"),
    // Hurting a person: a how-to question with a harming verb.
    ("violence", "en", S, r"\b(?:how (?:to|do i|can i|could i|should i)|best way to|ways to)\b.{0,20}\b(?:hurt|injure|stab|beat up|cripple|maim|strangle|attack|disfigure)\b"),
    ("violence", "fr", S, r"\bcomment (?:blesser|tabasser|poignarder|agresser|défigurer|frapper) (?:quelqu'un|une personne|mon|ma)\b"),
    ("violence", "es", S, r"\bcómo (?:puedo )?(?:herir|lastimar|apuñalar|darle una paliza|pegarle|golpear) a\b|\bdarle una paliza\b"),
    ("violence", "de", S, r"\bwie (?:kann ich )?(?:jemanden|einen menschen|meinen \w+) (?:verletzen|verprügeln|zusammenschlagen|niederstechen|abstechen)\b"),
    ("violence", "it", S, r"\bcome (?:si |posso )?(?:ferisce|ferire|picchiare|accoltellare|pestare) (?:qualcuno|una persona)\b"),
    ("violence", "ru", S, r"\bкак (?:избить|ранить|покалечить|пырнуть|зарезать) (?:человека|кого-то|кого-нибудь|его|ее)\b"),
    ("violence", "et", S, r"\bkuidas kedagi\b.{0,20}\b(?:lüüa|peksta|vigastada|pussitada)\b"),
    ("violence", "ar", S, r"كيف (?:اوذي|اؤذي|اضرب|اطعن|اجرح)\S* (?:شخص|احد)"),
    ("violence", "sw", S, r"\b(?:ninawezaje|jinsi ya|namna ya)\b.{0,10}\b(?:kumdhuru|kumjeruhi|kumchoma kisu|kumpiga)\b"),
    ("violence", "hi", S, r"(?:किसी को|उसे)[^।?]{0,20}कैसे (?:घायल|चोट पहुंचा|मारूं|पीटूं)"),
    // Threats of harm in other words.
    ("harassment/threatening|violence", "en", S, r"\bi(?:'ll| will) (?:break|smash|cut|burn|rearrange)\b.{0,10}\b(?:your|his|her)\b|\b(?:you|he|she)(?:'ll| will) end up in (?:the )?hospital\b"),
    ("harassment/threatening|violence", "fr", S, r"\b(?:finir|terminer) à l'hôpital\b|\b(?:casser|péter|défoncer) la (?:gueule|figure)\b"),
    ("harassment/threatening|violence", "es", S, r"\b(?:te|le) voy a (?:romper|partir|reventar) (?:la cara|las piernas|la boca)\b|\bacabar en el hospital\b"),
    ("harassment/threatening|violence", "de", S, r"\bich (?:schlage|breche) dir\b|\bim krankenhaus (?:landen|enden)\b"),
    ("harassment/threatening|violence", "it", S, r"\b(?:gli|ti|le) spacco la faccia\b|\bspaccare la faccia\b|\bfinire all'ospedale\b"),
    ("harassment/threatening|violence", "ru", S, r"\b(?:сломаю|переломаю) (?:тебе|ему|ей)\b|\bпокалечу\b"),
    ("harassment/threatening|violence", "et", S, r"\bteen (?:talle|sulle|teile) haiget\b|\bmurran (?:su|ta)\b"),
    ("harassment/threatening|violence", "ar", S, r"ساكسر|ساحطم (?:وجهك|راسك)"),
    ("harassment/threatening|violence", "sw", S, r"\b(?:nitamvunja|nitakuvunja|nitamuua|nitamdhuru)\b"),
    ("harassment/threatening|violence", "hi", S, r"(?:टांगें|हड्डियां) तोड़ (?:दूंगा|दूंगी)"),
    // Forgery and card fraud.
    ("illicit", "en", S, r"\b(?:fake|forge|forged|counterfeit|falsif\w+)\b.{0,20}\b(?:ids?|passports?|diplomas?|degrees?|certificates?|licen[cs]es?|documents?|papers|prescriptions?|signatures?|pay ?slips?)\b|\b(?:clone|skim)\b.{0,20}\b(?:credit cards?|cards?|sim)\b"),
    ("illicit", "en", M, r"\b(?:grow|sell|deal|smuggle)\b.{0,20}\b(?:weed|cannabis|marijuana|drugs|cocaine|heroin)\b|\bwithout the police (?:finding out|knowing|noticing)\b"),
    ("illicit", "fr", S, r"\b(?:faux|fausses?|falsifi\w+)\b.{0,15}\b(?:papiers|documents|passeports?|diplômes?|permis|carte d'identité|ordonnances?)\b|\b(?:cloner|copier) une carte (?:bancaire|de crédit)\b"),
    ("illicit", "es", S, r"\bfalsific\w+\b|\b(?:documentos|papeles|pasaportes?|títulos?|carnets?) falsos?\b|\bclonar (?:una )?tarjeta\b|\brob\w+ (?:la señal|el wifi)\b"),
    ("illicit", "de", S, r"\bfälsch\w+\b|\bgefälscht\w*\b|\bkreditkarten? (?:klonen|kopieren)\b"),
    ("illicit", "it", S, r"\bclonare (?:una )?carta\b|\bfalsific\w+\b|\b(?:documenti|patente|diploma) falsi?\b"),
    ("illicit", "ru", S, r"\bподдел\w+\b|\bклонировать (?:банковскую )?карту\b"),
    ("illicit", "et", S, r"\bvõlts\w*\b|\b(?:kloonida|kopeerida) (?:pangakaart|krediitkaart)\w*"),
    ("illicit", "ar", S, r"(?:ازور|تزوير|مزور\S*)|استنساخ بطاقة"),
    ("illicit", "sw", S, r"\bku?ghushi\b|\b(?:cheti|pasipoti|leseni|kitambulisho) (?:bandia|feki)\b"),
    ("illicit", "hi", S, r"(?:नकली|जाली)[^।?]{0,20}(?:लाइसेंस|पासपोर्ट|डिग्री|प्रमाण पत्र|नोट|आधार|दस्तावेज|सर्टिफिकेट)"),
    // Explosives asked for in a how-to.
    ("illicit/violent|illicit", "en", S, r"\bhow\b.{0,30}\b(?:explosives?|detonators?|pipe ?bombs?)\b"),
    ("illicit/violent|illicit", "de", S, r"\bwie\b.{0,30}\b(?:sprengstoff|sprengsatz|\w*bombe)\b"),
    ("illicit/violent|illicit", "fr", S, r"\bcomment\b.{0,30}\b(?:explosifs?|détonateur)\b"),
    // Insults in other words: insulting verbs and derogatory terms (two
    // signals needed).
    ("harassment", "en", W, r"\b(?:insult\w*|humiliat\w*|degrad\w*|mock\w*|calling (?:her|him|them|my \w+))\b"),
    ("harassment", "en", W, r"\b(?:useless|worthless|stupid|ugly|fat|pathetic)\b.{0,10}\b(?:cow|pig|bitch|idiot|loser|moron|slut|whore)\b"),
    ("harassment", "fr", W, r"\b(?:insult\w*|humili\w+|ridiculis\w+|rabaiss\w+)\b|\b(?:stupide|idiot|débile|nul)\b"),
    ("harassment", "es", W, r"\b(?:insult\w*|humill\w+|ridiculiz\w+)\b|\b(?:estúpid[oa]|idiota|imbécil|inútil)\b"),
    ("harassment", "de", W, r"\b(?:bloßstell\w*|beleidig\w*|fertigmach\w*|demütig\w*)\b|\b(?:dumm\w*|versager\w*|idiot\w*)\b"),
    ("harassment", "it", W, r"\b(?:insult\w*|umili\w+|offend\w+|deride\w*)\b|\b(?:stupid[oa]|idiota|cretin[oa]|fallit[oa])\b"),
    ("harassment", "ru", W, r"\bоскорб\w+|\bунизи\w+|\b(?:тупая|тупой|дура|дурак|идиот\w*)\b"),
    ("harassment", "et", W, r"\b(?:solva\w+|alanda\w+|mõnita\w+)\b|\b(?:loll|rumal|idioot|tobu)\b"),
    ("harassment", "ar", W, r"(?:اهين|اهانة|يهين|اسخر|احتقر)|(?:غبي|حقير|تافه|احمق)"),
    ("harassment", "sw", W, r"\b(?:kumtukana|kumdhalilisha|matusi|kumkejeli)\b|\b(?:mjinga|mpumbavu|mshenzi)\b"),
    ("harassment", "hi", W, r"(?:बेइज्जती|अपमान|जलील)|(?:मूर्ख|घटिया|बेवकूफ|नीच)"),
    // Hate by stereotype: a group called criminals.
    ("hate", "en", S, concat!(r"\b", en_groups!(), r" (?:are|is) (?:all )?(?:thieves|criminals|terrorists|rapists|liars|scum|dirty|lazy)\b")),
    ("hate", "fr", S, concat!(r"\b", fr_groups!(), r" sont (?:tous |toutes )?des (?:voleu\w+|criminel\w*|terroristes|violeurs|menteurs|racailles|fainéants)\b")),
    ("hate", "es", S, concat!(r"\b", es_groups!(), r" son (?:todos |todas )?(?:unos |unas )?(?:ladron\w+|criminales|terroristas|violadores|delincuentes|vagos)\b")),
    ("hate", "de", S, concat!(r"\b", de_groups!(), r" sind (?:alle )?(?:diebe|kriminell\w*|terroristen|vergewaltiger|faul|schmarotzer)\b")),
    ("hate", "it", S, concat!(r"\b", it_groups!(), r" sono (?:tutti |tutte )?(?:ladri|criminali|terroristi|stupratori|delinquenti)\b")),
    ("hate", "ru", S, concat!(r"\b", ru_groups!(), r"\b.{0,10}\b(?:все )?(?:воры|преступники|террористы|насильники|бандиты)\b")),
];

/// Phrases whose words must not count: blanked before matching.
#[rustfmt::skip]
pub(crate) static BENIGN: &[(&str, &str)] = &[
    ("en", r"\bkill(?:ing|ed|s)? (?:a |the |this |that |my |all )?(?:\w+ ){0,2}(?:process|processes|task|job|thread|app|program|session|command|container|pod|server|tab)s?\b"),
    ("en", r"\bkill(?:ing)? time\b|\bkill bill\b|\bkiller (?:app|feature)\b|\b(?:this|that|the) (?:song|exam|movie|joke|heat|traffic) (?:is killing|kills|will kill) me\b|\bi could die\b"),
    ("en", r"\b(?:talk|speak|explain\w*|teach)\w* (?:to |with )?(?:him|her|them|my \w+|our \w+|children|kids|a child|teenagers) about (?:sex|puberty|consent|their bodies)\b"),
    ("en", r"\bsuicide (?:prevention|hotline|helpline|crisis line|line|awareness)\b|\b(?:sex(?:ual)?|reproductive) (?:education|health|ed)\b"),
    ("en", r"\b(?:bath|seed|glitter|flavou?r) bombs?\b|\bphoto ?bomb\w*\b"),
    ("fr", r"\bbombes? de bain\b"),
    ("de", r"\b(?:bade|samen)bomben?\b"),
    ("en", r"\bshoot(?:ing)? (?:better |good |great )?(?:photos?|pictures?|videos?|films?|portraits?)\b|\bchicken breasts?\b"),
    ("fr", r"\btuer (?:un |le |ce |les )?(?:\w+ )?(?:processus|tâche|programme)\b|\btuer le temps\b|\bprévention du suicide\b|\béducation sexuelle\b|\bkill bill\b"),
    ("es", r"\bmat(?:o|ar) (?:un |el )?proceso\b|\b(?:esta canción|esto|este examen) me mata\b|\bprevención del suicidio\b|\beducación sexual\b|\bdisparar (?:mejores )?fotos\b|\bkill bill\b"),
    ("de", r"\bprozess\w* (?:killen|beenden)\b|\bsuizidprävention\b|\bsexualaufklärung\b|\bsexualkunde\b|\bkill bill\b"),
    ("it", r"\bkillare\b|\bprevenzione del suicidio\b|\beducazione sessuale\b|\bkill bill\b"),
    ("ru", r"\bубить (?:\w+ )?процесс\w*|\bубить (?:время|билла)\b|\bпредотвращени\w+ самоубийств\w*|\bпрофилактик\w+ (?:самоубийств|суицид)\w*|\b(?:половое|сексуальное) (?:воспитание|просвещение)\b"),
    ("et", r"\btappa (?:kinni jäänud )?(?:\w+ )?protsess\w*|\benesetappude ennetami\w*|\bseksuaalharidus\w*|\bseksuaalkasvatus\w*|\bkill bill\b"),
    ("ar", r"الوقاية من الانتحار|التربية الجنسية|الثقافة الجنسية"),
    ("sw", r"\bkuzuia kujiua\b|\belimu ya ngono\b|\bkupiga (?:picha|kura|simu)\b"),
    ("hi", r"(?:आत्महत्या|खुदकुशी) रोकथाम|यौन शिक्षा|सेक्स शिक्षा"),
];
