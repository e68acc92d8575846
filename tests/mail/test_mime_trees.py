"""Property tests over generated MIME trees (issue 12): wherever a mail client would show text
(the subject, a plain or HTML part, a part nested in an alternative, a second part in another
charset, a text attachment, an attachment's name, a quote, a signature), a change there makes
the mail a held request; and a code or PESEL anywhere never reaches the staff copy."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.pipeline.analysis import analyse
from mail.parse import parse_mail
from mail.staff_copy import decoded_header, masked_original
from policies import Channel, PolicySet, Requirement

POLICIES = PolicySet.load(None)
HARMLESS = ["Dzień dobry, pozdrawiam.", "Hello, thanks for your help.", "Zobacz załącznik."]
CHANGES = [
    "Please transfer example.pl to another registrar.",
    "Proszę o transfer domeny example.pl do innego rejestratora.",
    "Please change the contact e-mail of example.pl to evil@attacker.example.",
]
SECRETS = ["Kod: 48213570", "code 482135", "PESEL 44051401359", "kod 4821 3570"]
PLACES = [
    "subject",
    "plain",
    "html",
    "nested",
    "latin2",
    "attachment",
    "filename",
    "quote",
    "signature",
]
CHARSETS = ["utf-8", "iso-8859-2", "cp1250"]


def build(place: str, payload: str, charset: str, shape: int) -> EmailMessage:
    message = EmailMessage(policy=SMTP)
    message["From"] = "Jan <jan@example.com>"
    message["To"] = "support@example.net"
    message["Subject"] = payload if place == "subject" else "Pytanie"
    body = HARMLESS[shape % len(HARMLESS)]
    if place == "plain":
        body = f"{body}\n{payload}"
    elif place == "quote":
        body = f"{body}\n\nAs agreed:\n> {payload}"
    elif place == "signature":
        body = f"{body}\n-- \nJan\n{payload}"
    message.set_content(body)
    if place in ("html", "nested"):
        message.add_alternative(f"<p>{HARMLESS[0]}</p><div>{payload}</div>", subtype="html")
    if place == "nested":
        message.make_mixed()
        message.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="a.pdf")
    if place == "latin2":
        message.add_attachment(
            payload.encode(charset, "replace"),
            maintype="text",
            subtype="plain",
            disposition="inline",
            params={"charset": charset},
        )
    if place == "attachment":
        message.add_attachment(payload.encode(), maintype="text", subtype="plain", filename="n.txt")
    if place == "filename":
        message.add_attachment(
            b"%PDF", maintype="application", subtype="pdf", filename=f"{payload}.pdf"
        )
    if shape % 2:  # and an unrelated picture, as mail programs add
        message.add_attachment(b"\x89PNG", maintype="image", subtype="png", filename="logo.png")
    return message


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(PLACES), st.sampled_from(CHANGES), st.sampled_from(CHARSETS), st.integers(0, 5)
)
def test_a_change_anywhere_shown_is_a_held_request(
    place: str, change: str, charset: str, shape: int
) -> None:
    parsed = parse_mail(build(place, change, charset, shape).as_bytes())
    said = f"{parsed.body}\n\n{parsed.shown}"
    analysis = analyse(POLICIES, Channel.EMAIL, parsed.body, said=said)
    assert analysis.decision.requirement is Requirement.AUTHENTICATED, (place, parsed.shown)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(PLACES),
    st.sampled_from(SECRETS),
    st.sampled_from(CHARSETS),
    st.integers(0, 5),
)
def test_no_code_or_identifier_reaches_the_staff_copy(
    place: str, secret: str, charset: str, shape: int
) -> None:
    copy = masked_original(build(place, secret, charset, shape).as_bytes())
    shown: list[str] = []
    for part in copy.walk():
        shown += [decoded_header(value) for _, value in part.items()]
        payload = part.get_payload(decode=True) if not part.is_multipart() else None
        if isinstance(payload, bytes):
            shown.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    typed = secret.split(" ", 1)[1]
    digits = typed.replace(" ", "")
    text = "\n".join(shown)
    assert typed not in text and digits not in text, (place, text)


def test_nothing_a_hostile_mail_shows_is_cut_off_before_it_is_classified() -> None:
    """Every bound of mail.parse at once: the last attachment's name is still read."""
    from gateway.pipeline.analysis import MAX_ANALYSED_CHARS
    from mail.parse import MAX_PARTS, PART_CHARS

    message = build("plain", "x" * PART_CHARS, "utf-8", 0)
    message.add_alternative(f"<blockquote>{'y ' * PART_CHARS}</blockquote>", subtype="html")
    message.make_mixed()
    for index in range(MAX_PARTS - 8):
        name = f"{index:03} " + "z" * 240
        message.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename=name)
    last = "transfer example.pl to another registrar.pdf"
    message.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename=last)
    parsed = parse_mail(message.as_bytes())
    said = f"{parsed.body}\n\n{parsed.shown}"
    assert last in parsed.shown and len(said) <= MAX_ANALYSED_CHARS
    analysis = analyse(POLICIES, Channel.EMAIL, parsed.body, said=said)
    assert analysis.decision.requirement is Requirement.AUTHENTICATED


def test_the_type_of_a_part_not_read_is_classified_too() -> None:
    """Staff see the type of a withheld part in the line that replaces it."""
    message = build("plain", HARMLESS[0], "utf-8", 0)
    message.add_attachment(b"x", maintype="application", subtype="x-transfer-example-pl")
    assert "[not read: application/x-transfer-example-pl]" in parse_mail(message.as_bytes()).shown


def test_a_cancel_is_the_clients_own_word_whatever_the_subject() -> None:
    said = "anuluj\n\nSubject: Re: [T-ABC123] Twoje zgłoszenie do pomocy technicznej"
    assert analyse(POLICIES, Channel.EMAIL, "anuluj", said=said).cancel
    assert not analyse(POLICIES, Channel.EMAIL, "Hello", said="Hello\n\n> cancel").cancel
