"""The hotline's form: a staff member takes a call and opens it as a held request, which the
caller then approves in the Client Panel with the number the conversation page shows.

The form asks for no code and shows none. What stage 1 the agent typed is never echoed back in
clear: a form shown again after a refusal carries a service name as it was, and a PESEL, NIP or
REGON only masked, to be typed again.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from gateway.redaction import redact
from gateway.staff.console.actions import conversation_url
from gateway.staff.console.context import CONSOLE
from gateway.staff.console.cookies import Flash
from gateway.staff.console.guard import Form, field, see_other, staff_form, staff_page
from gateway.staff.console.render import render
from gateway.staff.console.sessions import StaffIdentity
from gateway.staff.desk import PHONE_LANGUAGES, DeskError

# A refusal re-shows the form in the answer to the post (nothing to redirect to yet).
REFUSED_STATUS = 422


@dataclass(frozen=True, slots=True)
class PhoneForm:
    """What the form shows: empty, or what the agent typed, masked."""

    stage_one: str = ""
    stage_one_masked: str = ""  # set when stage 1 held a number: shown masked, not as a value
    intent: str = ""
    text: str = ""
    language: str = PHONE_LANGUAGES[0]

    @classmethod
    def refused(cls, form: Form) -> PhoneForm:
        stage_one, masked = field(form, "stage_one").strip(), ""
        if redact(stage_one) != stage_one:
            stage_one, masked = "", redact(stage_one)
        language = field(form, "language")
        return cls(
            stage_one=stage_one,
            stage_one_masked=masked,
            intent=field(form, "intent"),
            text=redact(field(form, "text")),
            language=language if language in PHONE_LANGUAGES else PHONE_LANGUAGES[0],
        )


@staff_page
async def phone_page(request: web.Request, staff: StaffIdentity) -> web.StreamResponse:
    return _form_page(request, staff, PhoneForm(), None)


@staff_form
async def phone_call(request: web.Request, staff: StaffIdentity, form: Form) -> web.StreamResponse:
    desk = request.config_dict[CONSOLE].desk
    intent = field(form, "intent")
    if intent not in desk.change_intents:
        return _form_page(request, staff, PhoneForm.refused(form), "Choose the request.")
    try:
        status = await desk.phone_call(
            staff.username,
            field(form, "stage_one"),
            intent,
            field(form, "text"),
            field(form, "language"),
        )
    except DeskError as refused:
        return _form_page(request, staff, PhoneForm.refused(form), str(refused))
    done = f"Phone call taken as ticket {status.ticket}: read the caller the number below."
    return see_other(request, conversation_url(status.conversation), Flash("notice", done))


def _form_page(
    request: web.Request, staff: StaffIdentity, form: PhoneForm, error: str | None
) -> web.Response:
    policies = request.config_dict[CONSOLE].desk.intent_descriptions()
    response = render(
        request,
        "phone.html",
        staff,
        form=form,
        error=error,
        intents=policies,
        languages=PHONE_LANGUAGES,
    )
    if error is not None:
        response.set_status(REFUSED_STATUS)
    return response
