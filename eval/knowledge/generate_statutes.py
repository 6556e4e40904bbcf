#!/usr/bin/env python3
"""Writes the statutes part of the retrieval evaluation: corpus/statutes/<lang>/.

Ministry staff, lawyers and advisers look a rule up by its number: "what
does § 17 MeldeG say", "article 9 de la loi sur le domicile". National law
portals publish one page per section (one URL per paragraph), so a
registration act is sixteen pages of the same register and vocabulary, and
the number and the act's short name are all that tell them apart. An
embedding barely sees a number; that is the case the full-text half of the
hybrid search exists for, and this script writes it: two acts per corpus
country (a residence registration act and an identity documents act), eight
sections each, numbered alike in both acts, in en, de, fr, et and ar.

The acts are fictional (their wording was written for this evaluation); the
numbers in the section texts (days, fees, ages) and the cross-references
between sections are there on purpose, as in real statutes. Where a guide of
the same country states a figure (the Estonian ID card's validity and fee,
the English fast-track passport fee), the act states the same one.

Questions: for every section, one asking for it by number (a third of them
in another language, citing the act the way its own country does); for
every other section, one asking which section covers its topic. Split at
random (seeded) into statutes-tuning.jsonl and statutes.jsonl (held out);
the fusion may be tuned on the first only. Written, split and committed
before any search ran on them.

    python3 eval/knowledge/generate_statutes.py
"""

import random
from pathlib import Path

from evalgen import write_split

ROOT = Path(__file__).resolve().parent
rng = random.Random(20261203)

NUMBERS = [2, 5, 9, 13, 17, 21, 26, 31]

# Per language: how a section is cited and two acts, each eight sections of
# (title, first paragraph, second paragraph), in the order of NUMBERS.
L = {
    "en": dict(
        domain="law.gov.example",
        page_title="Section {n}, {name}: {title}",
        cite="section {n} of the {name}",
        acts=[
            dict(name="Civil Registration Act", abbr="CRA", key="cra", sections=[
                ("Scope and definitions", "This Act applies to every person who lives in the country. A dwelling is any enclosed room used for living or sleeping.", "A person lives where they stay for more than three months in a year."),
                ("Duty to register a move", "Anyone who moves into a dwelling must register with the registration office within 14 days.", "The landlord confirms the move-in in writing within the same period."),
                ("Registration certificate", "On registration the office issues a registration certificate free of charge.", "A certified copy of the certificate costs 10 euros."),
                ("Moving abroad", "Anyone who gives up their only dwelling and moves abroad must deregister, at the earliest one week before leaving.", "The deregistration can be made online or by post."),
                ("Data held in the register", "The register holds the name, date and place of birth, nationality and the current and previous addresses.", "Religious affiliation is stored only where a church tax is levied."),
                ("Information to private persons", "Anyone may obtain the name and current address of a person they identify precisely.", "The information costs 8 euros; it is refused while a block under section 26 is in force."),
                ("Blocking of information", "A person at risk of harm may have their address blocked against information requests.", "The block lasts two years and can be renewed on application."),
                ("Fines", "Failing to register or deregister in time under section 5 or section 9 is an administrative offence.", "The fine is up to 1,000 euros."),
            ]),
            dict(name="Identity Documents Act", abbr="IDA", key="ida", sections=[
                ("Duty to hold an identity card", "Every citizen aged 16 or over must hold a valid identity card or passport.", "The duty does not apply to persons in long-term hospital care."),
                ("Period of validity", "An identity card is valid for ten years; for applicants under 24 it is valid for six years.", "A document that has expired may not be used to prove identity."),
                ("Application in person", "The application is made in person at the office for the applicant's place of residence.", "Fingerprints and a biometric photo are taken at the office."),
                ("Documents for children", "For a child under 18 both parents must consent to the application.", "A child's passport is valid for six years."),
                ("Loss and theft", "The holder must report the loss or theft of a document without delay.", "A document reported lost is invalid even if it is found again."),
                ("Fees", "An identity card costs 37 euros; for applicants under 24 it costs 22.80 euros.", "An express passport costs an extra 90 euros."),
                ("Online identification", "The identity card carries an online identification function protected by a six-digit PIN.", "The holder may have the function switched off at any time."),
                ("Refusal and withdrawal of a passport", "A passport may be refused or withdrawn where the holder's departure would endanger national security.", "The holder may appeal the decision under section 31 of the Civil Registration Act."),
            ]),
        ],
        q_number=["What does {cite} say?", "What is in {cite}?", "What does {cite} provide?"],
        q_topic="Which section of the {name} is about {topic}?",
    ),
    "de": dict(
        domain="recht.example.de",
        page_title="§ {n} {abbr}: {title}",
        cite="§ {n} {abbr}",
        acts=[
            dict(name="Meldegesetz", abbr="MeldeG", key="meldeg", gen="des Meldegesetzes", sections=[
                ("Geltungsbereich und Begriffe", "Dieses Gesetz gilt für jede Person, die im Inland wohnt. Wohnung ist jeder umschlossene Raum, der zum Wohnen oder Schlafen benutzt wird.", "Eine Person wohnt dort, wo sie sich mehr als drei Monate im Jahr aufhält."),
                ("Meldepflicht beim Umzug", "Wer eine Wohnung bezieht, hat sich innerhalb von 14 Tagen bei der Meldebehörde anzumelden.", "Der Wohnungsgeber bestätigt den Einzug innerhalb derselben Frist schriftlich."),
                ("Meldebescheinigung", "Bei der Anmeldung stellt die Meldebehörde gebührenfrei eine Meldebescheinigung aus.", "Eine beglaubigte Abschrift kostet 10 Euro."),
                ("Wegzug ins Ausland", "Wer seine einzige Wohnung aufgibt und ins Ausland zieht, hat sich abzumelden, frühestens eine Woche vor dem Auszug.", "Die Abmeldung ist online oder per Post möglich."),
                ("Daten im Melderegister", "Das Melderegister enthält Namen, Geburtsdatum und Geburtsort, Staatsangehörigkeit sowie gegenwärtige und frühere Anschriften.", "Die Religionszugehörigkeit wird nur gespeichert, soweit Kirchensteuer erhoben wird."),
                ("Melderegisterauskunft an Private", "Jeder kann Namen und gegenwärtige Anschrift einer Person erfahren, die er eindeutig bezeichnet.", "Die Auskunft kostet 8 Euro; sie wird verweigert, solange eine Sperre nach § 26 besteht."),
                ("Auskunftssperre", "Eine gefährdete Person kann ihre Anschrift für Auskünfte sperren lassen.", "Die Sperre gilt zwei Jahre und kann auf Antrag verlängert werden."),
                ("Bußgeldvorschriften", "Ordnungswidrig handelt, wer sich entgegen § 5 oder § 9 nicht rechtzeitig an- oder abmeldet.", "Die Ordnungswidrigkeit kann mit einer Geldbuße bis zu 1.000 Euro geahndet werden."),
            ]),
            dict(name="Ausweisgesetz", abbr="AuswG", key="auswg", gen="des Ausweisgesetzes", sections=[
                ("Ausweispflicht", "Jeder Staatsangehörige ab 16 Jahren muss einen gültigen Personalausweis oder Reisepass besitzen.", "Die Pflicht gilt nicht für Personen in dauerhafter Krankenhauspflege."),
                ("Gültigkeitsdauer", "Der Personalausweis ist zehn Jahre gültig; bei Antragstellern unter 24 Jahren sechs Jahre.", "Ein abgelaufenes Dokument darf nicht zum Nachweis der Identität verwendet werden."),
                ("Persönliche Antragstellung", "Der Antrag ist persönlich bei der Behörde des Wohnorts zu stellen.", "Fingerabdrücke und ein biometrisches Lichtbild werden in der Behörde aufgenommen."),
                ("Dokumente für Kinder", "Für ein Kind unter 18 Jahren müssen beide Eltern dem Antrag zustimmen.", "Ein Kinderreisepass ist sechs Jahre gültig."),
                ("Verlust und Diebstahl", "Der Inhaber hat den Verlust oder Diebstahl eines Dokuments unverzüglich anzuzeigen.", "Ein als verloren gemeldetes Dokument ist ungültig, auch wenn es wiedergefunden wird."),
                ("Gebühren", "Der Personalausweis kostet 37 Euro; für Antragsteller unter 24 Jahren 22,80 Euro.", "Ein Expressreisepass kostet zusätzlich 32 Euro."),
                ("Online-Ausweisfunktion", "Der Personalausweis enthält eine Online-Ausweisfunktion, die durch eine sechsstellige PIN geschützt ist.", "Der Inhaber kann die Funktion jederzeit ausschalten lassen."),
                ("Versagung und Entziehung des Passes", "Der Pass kann versagt oder entzogen werden, wenn die Ausreise des Inhabers die Sicherheit des Staates gefährden würde.", "Gegen die Entscheidung ist der Widerspruch nach § 31 MeldeG gegeben."),
            ]),
        ],
        q_number=["Was regelt {cite}?", "Was steht in {cite}?", "Was bestimmt {cite}?"],
        q_topic="Welcher Paragraf {gen} betrifft das Thema „{topic}“?",
    ),
    "fr": dict(
        domain="legislation.example.fr",
        page_title="Article {n} de la {name} : {title}",
        cite="l'article {n} de la {name}",
        acts=[
            dict(name="loi sur le domicile", abbr="LD", key="ld", sections=[
                ("Champ d'application et définitions", "La présente loi s'applique à toute personne qui réside sur le territoire. Est un logement toute pièce close servant à l'habitation ou au sommeil.", "Une personne réside là où elle séjourne plus de trois mois par an."),
                ("Obligation de déclarer un déménagement", "Toute personne qui emménage dans un logement le déclare au bureau de l'état civil dans un délai de 14 jours.", "Le bailleur confirme l'emménagement par écrit dans le même délai."),
                ("Attestation de domicile", "Lors de la déclaration, le bureau délivre gratuitement une attestation de domicile.", "Une copie certifiée conforme coûte 10 euros."),
                ("Départ à l'étranger", "Toute personne qui quitte son unique logement pour l'étranger se désinscrit, au plus tôt une semaine avant le départ.", "La désinscription peut se faire en ligne ou par courrier."),
                ("Données du registre", "Le registre contient le nom, la date et le lieu de naissance, la nationalité ainsi que l'adresse actuelle et les adresses antérieures.", "L'appartenance religieuse n'est enregistrée que là où un impôt cultuel est perçu."),
                ("Communication aux particuliers", "Toute personne peut obtenir le nom et l'adresse actuelle d'une personne qu'elle désigne précisément.", "La communication coûte 8 euros ; elle est refusée tant qu'un blocage prévu à l'article 26 est en vigueur."),
                ("Blocage de la communication", "Une personne menacée peut faire bloquer la communication de son adresse.", "Le blocage dure deux ans et peut être renouvelé sur demande."),
                ("Amendes", "Le fait de ne pas se déclarer ou se désinscrire dans les délais prévus aux articles 5 et 9 constitue une contravention.", "L'amende peut atteindre 1 000 euros."),
            ]),
            dict(name="loi sur les titres d'identité", abbr="LTI", key="lti", sections=[
                ("Obligation de détenir une carte d'identité", "Tout citoyen âgé de 16 ans ou plus détient une carte d'identité ou un passeport en cours de validité.", "L'obligation ne s'applique pas aux personnes hospitalisées de longue durée."),
                ("Durée de validité", "La carte d'identité est valable dix ans ; pour les demandeurs de moins de 24 ans, elle est valable six ans.", "Un titre expiré ne peut servir à justifier de son identité."),
                ("Demande en personne", "La demande est présentée en personne au bureau du lieu de résidence du demandeur.", "Les empreintes digitales et une photo biométrique sont prises sur place."),
                ("Titres des enfants", "Pour un enfant de moins de 18 ans, les deux parents consentent à la demande.", "Le passeport d'un enfant est valable six ans."),
                ("Perte et vol", "Le titulaire déclare sans délai la perte ou le vol d'un titre.", "Un titre déclaré perdu est invalide même s'il est retrouvé."),
                ("Droits de timbre", "La carte d'identité coûte 37 euros ; pour les demandeurs de moins de 24 ans, 22,80 euros.", "Un passeport en procédure accélérée coûte 32 euros de plus."),
                ("Identification en ligne", "La carte d'identité comporte une fonction d'identification en ligne protégée par un code PIN à six chiffres.", "Le titulaire peut faire désactiver la fonction à tout moment."),
                ("Refus et retrait du passeport", "Le passeport peut être refusé ou retiré lorsque le départ du titulaire menacerait la sécurité nationale.", "Le titulaire peut contester la décision selon l'article 31 de la loi sur le domicile."),
            ]),
        ],
        q_number=["Que prévoit {cite} ?", "Que dit {cite} ?", "Que contient {cite} ?"],
        q_topic="Quel article de la {name} traite de « {topic} » ?",
    ),
    "et": dict(
        domain="seadused.example.ee",
        page_title="{gen} § {n}. {title}",
        cite="{gen} § {n}",
        acts=[
            dict(name="rahvastikuregistri seadus", abbr="RRS", key="rrs", gen="Rahvastikuregistri seaduse", sections=[
                ("Seaduse kohaldamisala ja mõisted", "Seadust kohaldatakse igale isikule, kes elab riigis. Eluruum on iga suletud ruum, mida kasutatakse elamiseks või magamiseks.", "Isik elab seal, kus ta viibib üle kolme kuu aastas."),
                ("Kohustus registreerida elukoha muutus", "Eluruumi kolinud isik peab 14 päeva jooksul esitama elukohateate registribüroole.", "Eluruumi omanik kinnitab sissekolimise kirjalikult sama tähtaja jooksul."),
                ("Elukohatõend", "Elukoha registreerimisel väljastab büroo tasuta elukohatõendi.", "Tõendi kinnitatud ärakiri maksab 10 eurot."),
                ("Välisriiki elama asumine", "Isik, kes loobub oma ainsast eluruumist ja asub elama välisriiki, peab end registrist välja registreerima kõige varem üks nädal enne lahkumist.", "Väljaregistreerimise võib teha veebis või posti teel."),
                ("Registrisse kantavad andmed", "Registrisse kantakse nimi, sünniaeg ja sünnikoht, kodakondsus ning praegune ja varasemad aadressid.", "Usulist kuuluvust säilitatakse ainult seal, kus kogutakse kirikumaksu."),
                ("Andmete väljastamine eraisikule", "Igaüks võib saada täpselt nimetatud isiku nime ja praeguse aadressi.", "Väljavõte maksab 8 eurot; seda ei väljastata, kui kehtib § 26 kohane piirang."),
                ("Andmete väljastamise piiramine", "Ohus olev isik võib lasta oma aadressi väljastamise piirata.", "Piirang kehtib kaks aastat ja seda saab taotluse alusel pikendada."),
                ("Trahvid", "Elukoha registreerimata jätmine või väljaregistreerimata jätmine §-des 5 ja 9 sätestatud tähtaja jooksul on väärtegu.", "Trahv on kuni 1000 eurot."),
            ]),
            dict(name="isikut tõendavate dokumentide seadus", abbr="ITDS", key="itds", gen="Isikut tõendavate dokumentide seaduse", sections=[
                ("Isikutunnistuse omamise kohustus", "Iga vähemalt 16-aastane kodanik peab omama kehtivat isikutunnistust või passi.", "Kohustus ei kehti pikaajalisel haiglaravil viibivatele isikutele."),
                ("Dokumendi kehtivusaeg", "Isikutunnistus kehtib viis aastat.", "Aegunud dokumendiga ei saa isikut tõendada."),
                ("Taotluse isiklik esitamine", "Taotlus esitatakse isiklikult taotleja elukohajärgses büroos.", "Sõrmejäljed ja biomeetriline foto võetakse büroos."),
                ("Lapse dokumendid", "Alla 18-aastase lapse taotlusega peavad nõustuma mõlemad vanemad.", "Lapse pass kehtib kuus aastat."),
                ("Kaotamine ja vargus", "Dokumendi omanik peab dokumendi kaotamisest või vargusest viivitamata teatama.", "Kaotatuks tunnistatud dokument on kehtetu ka siis, kui see leitakse."),
                ("Riigilõivud", "Isikutunnistuse riigilõiv on iseteeninduses 35 eurot ja teeninduses 40 eurot.", "Kiirmenetlusega pass maksab 32 eurot rohkem."),
                ("Elektrooniline isikutuvastus", "Isikutunnistusel on elektroonilise isikutuvastuse funktsioon, mida kaitseb kuuekohaline PIN-kood.", "Omanik võib lasta funktsiooni igal ajal välja lülitada."),
                ("Passi andmisest keeldumine ja passi äravõtmine", "Passi andmisest võib keelduda või passi ära võtta, kui omaniku lahkumine ohustaks riigi julgeolekut.", "Otsuse võib vaidlustada rahvastikuregistri seaduse § 31 alusel."),
            ]),
        ],
        q_number=["Mida sätestab {cite}?", "Mida näeb ette {cite}?", "Mida ütleb {cite}?"],
        q_topic="Milline {name_gen} paragrahv käsitleb teemat „{topic}“?",
    ),
    "ar": dict(
        domain="adala.example.ma",
        page_title="المادة {n} من {name}: {title}",
        cite="المادة {n} من {name}",
        acts=[
            dict(name="قانون الحالة المدنية", abbr="قانون الحالة المدنية", key="etat-civil", sections=[
                ("نطاق التطبيق والتعاريف", "يطبق هذا القانون على كل شخص يقيم في المملكة. يعتبر مسكنا كل فضاء مغلق يستعمل للسكن أو النوم.", "يقيم الشخص حيث يمكث أكثر من ثلاثة أشهر في السنة."),
                ("واجب التصريح بتغيير السكن", "يجب على كل من ينتقل إلى مسكن أن يصرح بذلك لدى مكتب الحالة المدنية داخل أجل 14 يوما.", "يؤكد المكري الانتقال كتابة داخل نفس الأجل."),
                ("شهادة السكنى", "يسلم المكتب عند التصريح شهادة السكنى بالمجان.", "تكلف النسخة المصادق عليها 10 دراهم."),
                ("الانتقال إلى الخارج", "يجب على من يغادر مسكنه الوحيد للإقامة في الخارج أن يشطب اسمه من السجل قبل أسبوع على الأكثر من المغادرة.", "يمكن التشطيب عبر الإنترنت أو بالبريد."),
                ("المعطيات المضمنة في السجل", "يتضمن السجل الاسم وتاريخ ومكان الازدياد والجنسية والعنوان الحالي والعناوين السابقة.", "لا يسجل الانتماء الديني إلا حيث تفرض ضريبة دينية."),
                ("إطلاع الخواص على المعطيات", "يحق لكل شخص الحصول على اسم وعنوان شخص يحدده بدقة.", "يكلف الإطلاع 8 دراهم، ويرفض ما دام المنع المنصوص عليه في المادة 26 ساريا."),
                ("منع الإطلاع على العنوان", "يمكن للشخص المعرض للخطر أن يطلب منع الإطلاع على عنوانه.", "يسري المنع لمدة سنتين ويمكن تجديده بطلب."),
                ("الغرامات", "يعتبر عدم التصريح أو عدم التشطيب داخل الآجال المنصوص عليها في المادتين 5 و9 مخالفة.", "تصل الغرامة إلى 1000 درهم."),
            ]),
            dict(name="قانون البطاقة الوطنية للتعريف", abbr="قانون البطاقة الوطنية للتعريف", key="cnie", sections=[
                ("إلزامية حمل البطاقة الوطنية", "يجب على كل مواطن بلغ 16 سنة أن يتوفر على بطاقة وطنية للتعريف أو جواز سفر صالح.", "لا يسري هذا الواجب على الأشخاص المقيمين في المستشفى لمدة طويلة."),
                ("مدة الصلاحية", "تكون البطاقة الوطنية صالحة لمدة عشر سنوات، ولمدة ست سنوات بالنسبة للطالبين الذين تقل أعمارهم عن 24 سنة.", "لا يجوز استعمال وثيقة منتهية الصلاحية لإثبات الهوية."),
                ("تقديم الطلب شخصيا", "يقدم الطلب شخصيا لدى مصلحة مكان إقامة الطالب.", "تؤخذ البصمات وصورة بيومترية في عين المكان."),
                ("وثائق الأطفال", "يشترط لطلب وثيقة لطفل يقل عمره عن 18 سنة موافقة الأبوين معا.", "يكون جواز سفر الطفل صالحا لمدة ست سنوات."),
                ("الضياع والسرقة", "يجب على الحامل التصريح بضياع أو سرقة الوثيقة دون تأخير.", "تعتبر الوثيقة المصرح بضياعها باطلة ولو عثر عليها."),
                ("الرسوم", "تكلف البطاقة الوطنية 75 درهما، و50 درهما للطالبين الذين تقل أعمارهم عن 24 سنة.", "يكلف جواز السفر المستعجل 300 درهم إضافية."),
                ("التعريف الإلكتروني", "تتضمن البطاقة الوطنية وظيفة التعريف الإلكتروني المحمية برقم سري من ستة أرقام.", "يمكن للحامل طلب تعطيل هذه الوظيفة في أي وقت."),
                ("رفض وسحب جواز السفر", "يمكن رفض جواز السفر أو سحبه إذا كانت مغادرة الحامل تهدد أمن الدولة.", "يمكن الطعن في القرار وفق المادة 31 من قانون الحالة المدنية."),
            ]),
        ],
        q_number=["ماذا تنص عليه {cite}؟", "ما مضمون {cite}؟", "على ماذا تنص {cite}؟"],
        q_topic="ما هي المادة من {name} التي تتناول {topic}؟",
    ),
}

# Where a question about a foreign act asks, the citation stays the act's own
# (people paste "§ 17 MeldeG" into whatever language they write in); only
# the Latin-script acts are asked about across languages, as with the portal.
CROSS_FROM = ["en", "de", "fr", "et"]


def cite(lang, act, n, asking):
    """Section `n` of `act` (an act of `lang`) as someone writing in `asking`
    cites it: in the act's language the way its country writes it, from
    another language by the act's short name ("§ 17 MeldeG")."""
    if asking != lang and lang in ("de", "et"):
        return f"§ {n} {act['abbr']}"
    if lang == "et":
        return f"{act['gen'].lower()} § {n}"
    return L[lang]["cite"].format(n=n, name=act["name"], abbr=act["abbr"])


def pages():
    out = []
    for lang, c in L.items():
        for act in c["acts"]:
            for n, (title, p1, p2) in zip(NUMBERS, act["sections"]):
                page_title = c["page_title"].format(n=n, name=act["name"], abbr=act["abbr"],
                                                    gen=act.get("gen", ""), title=title)
                body = "\n".join([
                    "---",
                    f"title: {page_title}",
                    f"url: https://{c['domain']}/{act['key']}/{n}",
                    f"language: {lang}",
                    f"effective_date: 2024-{rng.randint(1, 12):02d}-01",
                    "---",
                    f"# {page_title}",
                    "",
                    f"(1) {p1}",
                    "",
                    f"(2) {p2}",
                    "",
                ])
                path = f"statutes/{lang}/{act['key']}-{n}.md"
                out.append((lang, act, n, title, path, body))
    return out


def questions(all_pages):
    out = []
    for i, (lang, act, n, title, path, _) in enumerate(all_pages):
        # By number: in the act's language, or (a third, Latin-script acts
        # only) in another language citing the act by its short name.
        asking = lang
        if lang in CROSS_FROM and rng.random() < 0.34:
            asking = rng.choice([x for x in L if x != lang])
        template = rng.choice(L[asking]["q_number"])
        text = template.format(cite=cite(lang, act, n, asking))
        out.append(dict(question=text, language=asking, document=path, cross_language=asking != lang, kind="number"))
        # By topic, for every other section, in the act's language.
        if i % 2 == 0:
            c = L[lang]
            topic = title if lang in ("de", "fr", "et", "ar") else title[0].lower() + title[1:]
            text = c["q_topic"].format(name=act["name"], gen=act.get("gen", ""),
                                       name_gen=act.get("gen", "").lower(), topic=topic)
            out.append(dict(question=text, language=lang, document=path, cross_language=False, kind="topic"))
    return out


def main():
    all_pages = pages()
    for lang in L:
        (ROOT / "corpus" / "statutes" / lang).mkdir(parents=True, exist_ok=True)
    for _, _, _, _, path, body in all_pages:
        (ROOT / "corpus" / path).write_text(body, encoding="utf-8")
    qs = questions(all_pages)
    half = write_split(ROOT, qs, rng, ("statutes-tuning.jsonl", "st"), ("statutes.jsonl", "s"))
    print(f"{len(all_pages)} pages, {len(qs)} questions ({half} tuning)")


if __name__ == "__main__":
    main()
