#!/usr/bin/env python3
"""Writes the portal part of the retrieval evaluation: corpus/portal/<lang>/.

A national portal is not 26 hand-written guides. Most of its pages come out
of a directory: one page per local office (address, hours, phone, what it
does) and one per form (code, purpose, what to attach). Those pages look
alike, so the embedding of "when is the Tartu office open on Saturday"
sits nearly as close to the Pärnu page as to the Tartu one; the name or the
code is what tells them apart. This script writes such a directory for the
five corpus countries and the questions about it, so the evaluation scores
retrieval where full text should earn its place in the fusion.

Deterministic (seeded): running it again writes the same files. The
questions are split at random (seeded) into a tuning half,
portal-tuning.jsonl, and a held-out half, portal.jsonl; the fusion may be
tuned on the first only.

    python3 eval/knowledge/generate_portal.py
"""

import random
from pathlib import Path

from evalgen import write_split

ROOT = Path(__file__).resolve().parent
rng = random.Random(20261202)

# ---------------------------------------------------------------- languages

L = {
    "en": dict(
        domain="www.gov.example",
        towns=["Ashford", "Bedford", "Carlisle", "Derby", "Exeter", "Falkirk", "Gloucester",
               "Hereford", "Ipswich", "Kendal", "Lincoln", "Norwich", "Preston", "Salisbury",
               "Truro", "Wakefield"],
        office="{town} Citizen Service Centre",
        days=["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"],
        streets=["High Street", "Station Road", "Church Lane", "Market Square", "Victoria Road",
                 "Queen Street", "Mill Lane", "Park Road"],
        services=["passport applications", "ID card applications", "registering a change of address",
                  "driving licence exchange", "vehicle registration", "birth and death certificates"],
        h_hours="Opening hours", h_contact="Contact", h_services="Services", h_access="Getting there",
        closed="closed",
        intro="The {office} is the local office of the national citizen service in {town}. Staff help residents with identity documents and registrations.",
        address="Address: {num} {street}, {town} {post}.",
        phone="Telephone: {phone}. Email: {email}.",
        appt_yes="Appointments are required; book online or by telephone.",
        appt_no="You can come without an appointment; queue tickets are issued at the entrance.",
        svc="At this office you can get help with: {list}.",
        svc_no="The office does not handle {x}; use another office or the online service.",
        access="Bus line {bus} stops in front of the building. {park}",
        park_yes="There are {n} free parking spaces and a step-free entrance.",
        park_no="There is no public parking; the entrance has a ramp for wheelchairs.",
        form_title="Form {code}: {purpose}",
        form_intro="Use form {code} to {purpose_lc}. It is published by the {agency}.",
        h_who="Who uses this form", h_attach="What to attach", h_submit="How to submit",
        form_submit="Submit the form online or at any citizen service centre. A decision is usually made within {days} working days.",
        forms=[
            ("apply for a disabled parking permit", "residents with reduced mobility and their carers", "a medical certificate and a passport photo", "Department for Transport"),
            ("claim a refund of overpaid council tax", "householders who paid for a period after moving out", "your council tax bill and proof of the moving date", "Local Tax Office"),
            ("report a change of circumstances for housing support", "people who receive housing support", "evidence of the new income or household", "Housing Agency"),
            ("register a home-educated child", "parents who teach their child at home", "a learning plan and the child's birth certificate", "Department for Education"),
            ("apply for a fishing licence", "anglers aged 13 or over", "a passport photo", "Environment Agency"),
            ("request a copy of a marriage certificate", "the spouses and their descendants", "the date and place of the marriage", "General Register Office"),
            ("appeal a parking fine", "drivers who received a penalty notice", "the penalty notice and any photos", "Traffic Penalty Tribunal"),
            ("apply for a street party road closure", "residents organising an event on their street", "a map of the closure and the neighbours' signatures", "Highways Department"),
        ],
        prefixes=["HS", "CT", "RB", "ED", "FL", "MC", "PN", "SP"],
    ),
    "de": dict(
        domain="www.buergerservice.example.de",
        towns=["Aachen", "Bamberg", "Bielefeld", "Chemnitz", "Darmstadt", "Erfurt", "Freiburg",
               "Göttingen", "Heidelberg", "Jena", "Kassel", "Konstanz", "Lübeck", "Potsdam",
               "Regensburg", "Rostock"],
        office="Bürgeramt {town}",
        days=["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag"],
        streets=["Hauptstraße", "Bahnhofstraße", "Marktplatz", "Schillerstraße", "Goethestraße",
                 "Rathausplatz", "Lindenallee", "Kirchgasse"],
        services=["Reisepässe", "Personalausweise", "Anmeldung und Ummeldung des Wohnsitzes",
                  "Führerscheinumtausch", "Kfz-Zulassung", "Geburts- und Sterbeurkunden"],
        h_hours="Öffnungszeiten", h_contact="Kontakt", h_services="Leistungen", h_access="Anfahrt",
        closed="geschlossen",
        intro="Das {office} ist die Anlaufstelle der Stadt {town} für Ausweise, Meldeangelegenheiten und Urkunden.",
        address="Anschrift: {street} {num}, {post} {town}.",
        phone="Telefon: {phone}. E-Mail: {email}.",
        appt_yes="Ein Termin ist erforderlich; buchen Sie ihn online oder telefonisch.",
        appt_no="Sie können ohne Termin kommen; Wartemarken gibt es am Eingang.",
        svc="Hier erledigen Sie: {list}.",
        svc_no="{x} bearbeitet dieses Bürgeramt nicht; nutzen Sie ein anderes Amt oder den Onlinedienst.",
        access="Die Buslinie {bus} hält vor dem Gebäude. {park}",
        park_yes="Es gibt {n} kostenlose Parkplätze und einen barrierefreien Eingang.",
        park_no="Es gibt keine öffentlichen Parkplätze; der Eingang hat eine Rampe für Rollstühle.",
        form_title="Formular {code}: {purpose}",
        form_intro="Mit dem Formular {code} können Sie {purpose_lc}. Herausgeber ist {agency}.",
        h_who="Wer das Formular nutzt", h_attach="Beizufügende Unterlagen", h_submit="Einreichen",
        form_submit="Reichen Sie das Formular online oder in jedem Bürgeramt ein. Die Entscheidung dauert in der Regel {days} Arbeitstage.",
        forms=[
            ("Wohngeld beantragen", "Mieterinnen und Mieter mit geringem Einkommen", "Mietvertrag und Einkommensnachweise der letzten drei Monate", "die Wohngeldstelle"),
            ("einen Anwohnerparkausweis beantragen", "Bewohner einer Parkzone mit eigenem Fahrzeug", "Fahrzeugschein und Meldebescheinigung", "die Straßenverkehrsbehörde"),
            ("eine Gewerbeanmeldung vornehmen", "Personen, die ein Gewerbe beginnen", "Personalausweis und gegebenenfalls eine Erlaubnis", "das Gewerbeamt"),
            ("eine Sondernutzung öffentlicher Flächen beantragen", "Gastwirte und Veranstalter, die Gehwege nutzen", "einen Lageplan der genutzten Fläche", "das Tiefbauamt"),
            ("eine Namensänderung beantragen", "Personen mit einem wichtigen Grund für einen neuen Namen", "Geburtsurkunde und eine Begründung", "das Standesamt"),
            ("einen Antrag auf Elterngeld stellen", "Mütter und Väter nach der Geburt", "Geburtsurkunde des Kindes und Einkommensnachweise", "die Elterngeldstelle"),
            ("eine Fischereiabgabe entrichten", "Angler mit Fischereischein", "den Fischereischein", "die Fischereibehörde"),
            ("ein Führungszeugnis für Ehrenamtliche beantragen", "Ehrenamtliche in der Kinder- und Jugendarbeit", "eine Bestätigung des Vereins", "das Bundesamt für Justiz"),
        ],
        prefixes=["WG", "AP", "GA", "SN", "NA", "EG", "FA", "FZ"],
    ),
    "fr": dict(
        domain="www.service-public.example.fr",
        towns=["Amiens", "Angers", "Besançon", "Brest", "Caen", "Dijon", "Grenoble", "Limoges",
               "Metz", "Nancy", "Nîmes", "Orléans", "Poitiers", "Reims", "Rouen", "Tours"],
        office="Maison France Services de {town}",
        days=["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"],
        streets=["rue de la République", "avenue Jean Jaurès", "place de la Mairie", "rue Victor Hugo",
                 "boulevard Pasteur", "rue Nationale", "place du Marché", "rue de la Gare"],
        services=["passeports", "cartes nationales d'identité", "déclaration de changement d'adresse",
                  "échange de permis de conduire", "immatriculation des véhicules", "actes de naissance et de décès"],
        h_hours="Horaires d'ouverture", h_contact="Contact", h_services="Démarches", h_access="Accès",
        closed="fermé",
        intro="La {office} accompagne les habitants de {town} dans leurs démarches administratives : papiers d'identité, état civil et formalités.",
        address="Adresse : {num} {street}, {post} {town}.",
        phone="Téléphone : {phone}. Courriel : {email}.",
        appt_yes="Le rendez-vous est obligatoire ; réservez en ligne ou par téléphone.",
        appt_no="Vous pouvez venir sans rendez-vous ; des tickets sont distribués à l'accueil.",
        svc="Démarches possibles sur place : {list}.",
        svc_no="Cette maison ne traite pas les demandes de {x} ; adressez-vous à un autre guichet ou au service en ligne.",
        access="La ligne de bus {bus} s'arrête devant le bâtiment. {park}",
        park_yes="Un parking gratuit de {n} places et une entrée de plain-pied sont disponibles.",
        park_no="Il n'y a pas de parking public ; l'entrée dispose d'une rampe pour fauteuils roulants.",
        form_title="Formulaire {code} : {purpose}",
        form_intro="Le formulaire {code} permet de {purpose_lc}. Il est publié par {agency}.",
        h_who="Qui utilise ce formulaire", h_attach="Pièces à joindre", h_submit="Comment le déposer",
        form_submit="Déposez le formulaire en ligne ou dans une maison France Services. La réponse est donnée en général sous {days} jours ouvrés.",
        forms=[
            ("demander une carte mobilité inclusion", "les personnes handicapées et leurs aidants", "un certificat médical et une photo d'identité", "la maison départementale des personnes handicapées"),
            ("déclarer un meublé de tourisme", "les propriétaires qui louent un logement aux vacanciers", "un justificatif de propriété", "la mairie"),
            ("demander une aide au permis de conduire", "les jeunes de 18 à 25 ans en insertion", "un devis de l'auto-école", "la mission locale"),
            ("contester un avis de contravention", "les conducteurs qui ont reçu une amende", "l'avis de contravention et tout justificatif", "l'Agence nationale de traitement automatisé des infractions"),
            ("demander le remboursement de frais de transport médical", "les patients transportés sur prescription", "la prescription médicale de transport", "l'Assurance maladie"),
            ("inscrire un enfant à la cantine scolaire", "les parents d'élèves des écoles publiques", "un justificatif de domicile et l'attestation de quotient familial", "la mairie"),
            ("déclarer un chien dangereux", "les propriétaires de chiens de première ou deuxième catégorie", "l'attestation d'aptitude et l'assurance", "la mairie"),
            ("demander un certificat d'urbanisme", "les propriétaires et futurs acheteurs d'un terrain", "un plan de situation du terrain", "le service de l'urbanisme"),
        ],
        prefixes=["CMI", "MT", "AP", "CV", "TM", "CS", "CD", "CU"],
    ),
    "et": dict(
        domain="www.eesti.example.ee",
        towns=["Tartu", "Pärnu", "Narva", "Viljandi", "Rakvere", "Kuressaare", "Haapsalu", "Paide",
               "Valga", "Võru", "Jõhvi", "Rapla", "Jõgeva", "Põlva", "Kärdla", "Keila"],
        office="{town} teenindusbüroo",
        days=["esmaspäev", "teisipäev", "kolmapäev", "neljapäev", "reede", "laupäev"],
        streets=["Rüütli", "Tallinna maantee", "Pikk", "Kesk", "Jaama", "Lossi", "Aia", "Turu"],
        services=["passi taotlemine", "ID-kaardi taotlemine", "elukoha registreerimine",
                  "juhiloa vahetamine", "sõiduki registreerimine", "sünni- ja surmatõendid"],
        h_hours="Lahtiolekuajad", h_contact="Kontakt", h_services="Teenused", h_access="Asukoht",
        closed="suletud",
        intro="{office} on riigi teenindusbüroo {town} linnas. Siin aitavad ametnikud isikut tõendavate dokumentide ja registreerimistega.",
        address="Aadress: {street} {num}, {town} {post}.",
        phone="Telefon: {phone}. E-post: {email}.",
        appt_yes="Vajalik on eelnev broneering; aja saab broneerida internetis või telefonil.",
        appt_no="Tulla võib ka ilma broneeringuta; järjekorranumbri saab sissepääsu juurest.",
        svc="Selles büroos saab: {list}.",
        svc_no="Teenus {x} ei ole selles büroos saadaval; kasuta teist bürood või e-teenust.",
        access="Hoone ees peatub bussiliin {bus}. {park}",
        park_yes="Hoone juures on {n} tasuta parkimiskohta ja trepivaba sissepääs.",
        park_no="Avalikku parklat ei ole; sissepääsul on kaldtee ratastooliga liikujatele.",
        form_title="Vorm {code}: {purpose}",
        form_intro="Vormi {code} abil saab {purpose_lc}. Vormi väljaandja on {agency}.",
        h_who="Kes vormi kasutab", h_attach="Lisatavad dokumendid", h_submit="Esitamine",
        form_submit="Esita vorm e-teenuses või mis tahes teenindusbüroos. Otsus tehakse tavaliselt {days} tööpäeva jooksul.",
        forms=[
            ("taotleda puudega inimese parkimiskaarti", "liikumispuudega inimesed ja nende hooldajad", "arstitõend ja dokumendifoto", "Transpordiamet"),
            ("taotleda kalapüügikaarti", "harrastuskalastajad", "isikut tõendav dokument", "Keskkonnaamet"),
            ("registreerida koduõppel olev laps", "vanemad, kes õpetavad last kodus", "õppekava ja lapse sünnitõend", "Haridus- ja Teadusministeerium"),
            ("taotleda matusetoetust", "lähedase matuse korraldajad", "surmatõend ja matusekulude arved", "kohalik omavalitsus"),
            ("vaidlustada parkimistrahv", "juhid, kes said parkimistrahvi", "trahviteade ja fotod", "linnavalitsus"),
            ("taotleda elamisloa pikendamist", "välismaalased, kelle elamisluba lõpeb", "kehtiv pass ja tööleping", "Politsei- ja Piirivalveamet"),
            ("esitada ehitusteatis", "omanikud, kes ehitavad väikehoonet", "ehitise asendiplaan", "kohalik omavalitsus"),
            ("taotleda õppetoetust", "kõrgkoolis õppivad üliõpilased", "õppeasutuse tõend", "Haridus- ja Noorteamet"),
        ],
        prefixes=["PK", "KP", "KO", "MT", "PT", "EL", "ET", "OT"],
    ),
    "ar": dict(
        domain="www.idara.example.ma",
        towns=["الرباط", "فاس", "مراكش", "طنجة", "أكادير", "مكناس", "وجدة", "القنيطرة", "تطوان",
               "آسفي", "الجديدة", "بني ملال", "الناظور", "خريبكة", "تازة", "ورزازات"],
        office="مركز خدمات المواطنين في {town}",
        days=["الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت"],
        streets=["شارع محمد الخامس", "شارع الحسن الثاني", "شارع الجيش الملكي", "ساحة الأمم المتحدة",
                 "شارع الزرقطوني", "شارع المقاومة", "شارع فلسطين", "زنقة الحرية"],
        services=["جوازات السفر", "البطاقة الوطنية للتعريف", "تغيير عنوان السكن",
                  "تبديل رخصة السياقة", "تسجيل المركبات", "شهادات الولادة والوفاة"],
        h_hours="أوقات العمل", h_contact="الاتصال", h_services="الخدمات", h_access="الوصول",
        closed="مغلق",
        intro="{office} هو المكتب المحلي للخدمات الإدارية لسكان مدينة {town}، ويساعد في وثائق الهوية والتسجيل.",
        address="العنوان: {num} {street}، {town} {post}.",
        phone="الهاتف: {phone}. البريد الإلكتروني: {email}.",
        appt_yes="يجب حجز موعد مسبق عبر الإنترنت أو بالهاتف.",
        appt_no="يمكن الحضور دون موعد، وتوزع أرقام الانتظار عند المدخل.",
        svc="الخدمات المتوفرة في هذا المركز: {list}.",
        svc_no="لا يقدم هذا المركز خدمة {x}؛ توجه إلى مركز آخر أو استعمل الخدمة الإلكترونية.",
        access="يتوقف خط الحافلة {bus} أمام المبنى. {park}",
        park_yes="يوجد موقف مجاني يتسع لـ {n} سيارة ومدخل بدون درج.",
        park_no="لا يوجد موقف عمومي، وفي المدخل منحدر للكراسي المتحركة.",
        form_title="المطبوع {code}: {purpose}",
        form_intro="يستعمل المطبوع {code} من أجل {purpose_lc}. وتصدره {agency}.",
        h_who="من يستعمل هذا المطبوع", h_attach="الوثائق المرفقة", h_submit="طريقة الإيداع",
        form_submit="يودع المطبوع عبر الإنترنت أو في أي مركز لخدمات المواطنين. ويصدر القرار عادة خلال {days} أيام عمل.",
        forms=[
            ("طلب بطاقة الإعاقة", "الأشخاص في وضعية إعاقة وذووهم", "شهادة طبية وصورة شمسية", "وزارة التضامن"),
            ("طلب رخصة الصيد", "هواة الصيد البالغون", "نسخة من البطاقة الوطنية", "المندوبية السامية للمياه والغابات"),
            ("طلب منحة التعليم العالي", "الطلبة في الجامعات العمومية", "شهادة التسجيل ووثيقة دخل الأسرة", "الوكالة الوطنية للمنح"),
            ("طلب رخصة الإصلاح في المسكن", "مالكو المساكن الذين يرغبون في الإصلاح", "تصميم الأشغال وعقد الملكية", "الجماعة"),
            ("التصريح بفقدان وثيقة", "من فقد وثيقة رسمية", "نسخة من الوثيقة إن وجدت", "المديرية العامة للأمن الوطني"),
            ("طلب شهادة السكنى", "المقيمون الذين يحتاجون إثبات العنوان", "فاتورة الماء أو الكهرباء", "السلطة المحلية"),
            ("طلب استرجاع مصاريف العلاج", "المؤمنون لدى الصندوق", "الوصفة الطبية والفواتير", "الصندوق الوطني للضمان الاجتماعي"),
            ("طلب رخصة استغلال الملك العمومي", "أصحاب المقاهي والمحلات", "تصميم الموقع", "الجماعة"),
        ],
        prefixes=["BI", "RS", "MT", "RI", "TF", "SS", "IM", "RM"],
    ),
}

# Latin spellings of the Moroccan towns, for questions in other languages.
AR_LATIN = {"الرباط": "Rabat", "فاس": "Fes", "مراكش": "Marrakesh", "طنجة": "Tangier",
            "أكادير": "Agadir", "مكناس": "Meknes", "وجدة": "Oujda", "القنيطرة": "Kenitra",
            "تطوان": "Tetouan", "آسفي": "Safi", "الجديدة": "El Jadida", "بني ملال": "Beni Mellal",
            "الناظور": "Nador", "خريبكة": "Khouribga", "تازة": "Taza", "ورزازات": "Ouarzazate"}

# ---------------------------------------------------------------- questions
# Templates per asking language. {office}: the office named the way a person
# asking in that language would (the town, in that language's script).

Q = {
    "en": dict(
        hours="When is the citizen service office in {town} open on {day}?",
        saturday="Is the {town} service centre open on Saturdays?",
        phone="What is the phone number of the {town} citizen office?",
        address="What is the address of the service office in {town}?",
        appt="Do I need an appointment at the {town} office?",
        service="Can I do {service} at the office in {town}?",
        parking="Is there parking at the {town} citizen service centre?",
        form_code="What is form {code} for?",
        form_docs="What documents do I attach to form {code}?",
        days=["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"],
    ),
    "de": dict(
        hours="Wann hat das Bürgeramt in {town} am {day} geöffnet?",
        saturday="Hat das Bürgeramt {town} samstags geöffnet?",
        phone="Wie lautet die Telefonnummer des Bürgeramts {town}?",
        address="Wo befindet sich das Bürgeramt in {town}?",
        appt="Brauche ich im Bürgeramt {town} einen Termin?",
        service="Kann ich im Bürgeramt {town} {service} erledigen?",
        parking="Gibt es am Bürgeramt {town} Parkplätze?",
        form_code="Wofür ist das Formular {code}?",
        form_docs="Welche Unterlagen muss ich dem Formular {code} beilegen?",
        days=["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag"],
    ),
    "fr": dict(
        hours="Quels sont les horaires de la maison France Services de {town} le {day} ?",
        saturday="Le guichet de {town} est-il ouvert le samedi ?",
        phone="Quel est le numéro de téléphone de la maison France Services de {town} ?",
        address="Quelle est l'adresse du guichet administratif de {town} ?",
        appt="Faut-il un rendez-vous à la maison France Services de {town} ?",
        service="Peut-on faire une demande de {service} à {town} ?",
        parking="Y a-t-il un parking à la maison France Services de {town} ?",
        form_code="À quoi sert le formulaire {code} ?",
        form_docs="Quelles pièces joindre au formulaire {code} ?",
        days=["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"],
    ),
    "et": dict(
        hours="Millal on {town} teenindusbüroo {day} avatud?",
        saturday="Kas {town} teenindusbüroo on laupäeviti avatud?",
        phone="Mis on {town} teenindusbüroo telefoninumber?",
        address="Kus asub {town} teenindusbüroo?",
        appt="Kas {town} teenindusbüroosse on vaja aeg broneerida?",
        service="Kas {town} büroos saab teha toimingut: {service}?",
        parking="Kas {town} teenindusbüroo juures saab parkida?",
        form_code="Milleks on vorm {code}?",
        form_docs="Milliseid dokumente tuleb vormile {code} lisada?",
        days=["esmaspäeval", "teisipäeval", "kolmapäeval", "neljapäeval", "reedel", "laupäeval"],
    ),
    "ar": dict(
        hours="ما هي أوقات عمل مركز الخدمات في {town} يوم {day}؟",
        saturday="هل مركز الخدمات في {town} مفتوح يوم السبت؟",
        phone="ما هو رقم هاتف مركز خدمات المواطنين في {town}؟",
        address="أين يقع مركز خدمات المواطنين في {town}؟",
        appt="هل أحتاج إلى موعد في مركز {town}؟",
        service="هل يمكنني طلب {service} في مركز {town}؟",
        parking="هل يوجد موقف سيارات عند مركز الخدمات في {town}؟",
        form_code="ما هو الغرض من المطبوع {code}؟",
        form_docs="ما هي الوثائق التي أرفقها بالمطبوع {code}؟",
        days=["الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت"],
    ),
}


def town_in(lang_of_page, town, asking):
    """The town as someone asking in `asking` writes it."""
    if lang_of_page == "ar" and asking != "ar":
        return AR_LATIN[town]
    return town


def slug(s):
    out = []
    for ch in s.lower():
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        elif ch in "äàâ":
            out.append("a")
        elif ch in "öô":
            out.append("o")
        elif ch in "üû":
            out.append("u")
        elif ch in "éèêë":
            out.append("e")
        elif ch in "îï":
            out.append("i")
        elif ch == "õ":
            out.append("o")
        elif ch == "ç":
            out.append("c")
        else:
            out.append("-")
    return "-".join(p for p in "".join(out).split("-") if p)


def office_pages(lang, c):
    pages = []
    for i, town in enumerate(c["towns"]):
        office = c["office"].format(town=town)
        start = rng.choice([7, 8, 8, 9])
        end = rng.choice([15, 16, 16, 17])
        late = rng.randrange(5)
        sat = rng.random() < 0.4
        hours = []
        for d, day in enumerate(c["days"]):
            if d == 5:
                hours.append((day, "9:00–12:00" if sat else c["closed"]))
            else:
                e = 19 if d == late else end
                hours.append((day, f"{start}:00–{e}:00"))
        services = rng.sample(c["services"], rng.randint(3, 5))
        missing = [s for s in c["services"] if s not in services]
        appt = rng.random() < 0.5
        parking = rng.random() < 0.5
        n_park = rng.randint(8, 60)
        bus = rng.randint(1, 39)
        num = rng.randint(1, 120)
        street = rng.choice(c["streets"])
        post = f"{rng.randint(10, 98)}{rng.randint(100, 999)}"
        cc = {"en": 44, "de": 49, "fr": 33, "et": 372, "ar": 212}[lang]
        phone = f"+{cc} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
        key = slug(AR_LATIN.get(town, town))
        email = f"{key}@{c['domain'].removeprefix('www.')}"
        body = [
            "---",
            f"title: {office}",
            f"url: https://{c['domain']}/offices/{key}",
            f"language: {lang}",
            f"effective_date: 2025-{rng.randint(1, 12):02d}-01",
            "---",
            f"# {office}",
            "",
            c["intro"].format(office=office, town=town),
            "",
            f"## {c['h_hours']}",
            "",
            *[f"- {day}: {h}" for day, h in hours],
            "",
            c["appt_yes"] if appt else c["appt_no"],
            "",
            f"## {c['h_contact']}",
            "",
            c["address"].format(num=num, street=street, town=town, post=post),
            c["phone"].format(phone=phone, email=email),
            "",
            f"## {c['h_services']}",
            "",
            c["svc"].format(list=", ".join(services)),
        ]
        if missing:
            body.append(c["svc_no"].format(x=missing[0]))
        body += [
            "",
            f"## {c['h_access']}",
            "",
            c["access"].format(bus=bus, park=(c["park_yes"].format(n=n_park) if parking else c["park_no"])),
            "",
        ]
        path = f"portal/{lang}/office-{key}.md"
        pages.append((path, "\n".join(body), dict(kind="office", town=town, services=services, missing=missing)))
    return pages


def form_pages(lang, c):
    pages = []
    for (purpose, who, attach, agency), prefix in zip(c["forms"], c["prefixes"]):
        code = f"{prefix}-{rng.randint(10, 99)}"
        title_purpose = purpose[0].upper() + purpose[1:]
        body = [
            "---",
            f"title: {c['form_title'].format(code=code, purpose=title_purpose)}",
            f"url: https://{c['domain']}/forms/{slug(code)}",
            f"language: {lang}",
            f"effective_date: 2025-{rng.randint(1, 12):02d}-15",
            "---",
            f"# {c['form_title'].format(code=code, purpose=title_purpose)}",
            "",
            c["form_intro"].format(code=code, purpose_lc=purpose, agency=agency),
            "",
            f"## {c['h_who']}",
            "",
            who[0].upper() + who[1:] + ".",
            "",
            f"## {c['h_attach']}",
            "",
            attach[0].upper() + attach[1:] + ".",
            "",
            f"## {c['h_submit']}",
            "",
            c["form_submit"].format(days=rng.choice([5, 10, 15, 20, 30])),
            "",
        ]
        path = f"portal/{lang}/form-{slug(code)}.md"
        pages.append((path, "\n".join(body), dict(kind="form", code=code)))
    return pages


def questions(pages):
    out = []
    langs = list(Q)
    for lang, path, meta in pages:
        # One or two questions per page: the first in the page's language,
        # a second (for a third of the pages) in another language.
        askers = [lang]
        if rng.random() < 0.34:
            askers.append(rng.choice([x for x in langs if x != lang]))
        for asking in askers:
            q = Q[asking]
            if meta["kind"] == "form":
                kind = rng.choice(["form_code", "form_docs"])
                text = q[kind].format(code=meta["code"])
            else:
                kind = rng.choice(["hours", "saturday", "phone", "address", "appt", "service", "parking"])
                town = town_in(lang, meta["town"], asking)
                fill = dict(town=town)
                if kind == "hours":
                    fill["day"] = rng.choice(q["days"][:5])
                if kind == "service":
                    if asking != lang:
                        kind = "phone"
                    else:
                        fill["service"] = rng.choice(meta["services"] + meta["missing"])
                text = q[kind].format(**fill)
            out.append(dict(question=text, language=asking, document=path, cross_language=asking != lang))
    return out


def main():
    pages = []
    for lang, c in L.items():
        folder = ROOT / "corpus" / "portal" / lang
        folder.mkdir(parents=True, exist_ok=True)
        for path, text, meta in office_pages(lang, c) + form_pages(lang, c):
            (ROOT / "corpus" / path).write_text(text, encoding="utf-8")
            pages.append((lang, path, meta))
    qs = questions(pages)
    half = write_split(ROOT, qs, rng, ("portal-tuning.jsonl", "pt"), ("portal.jsonl", "p"))
    print(f"{len(pages)} pages, {len(qs)} questions ({half} tuning)")


if __name__ == "__main__":
    main()
