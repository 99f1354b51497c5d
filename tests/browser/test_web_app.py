"""Acceptance of the web app (issue 13) in Debian's Chromium against `sdfleet up`.

Accounts (sign up with the emulator's any-code confirmation, sign in, session across a
reload, an expired session that keeps the form), txt2img with live queue position/progress
and a download, img2img with a dropped and a picked file and the upload progress bar, cancel,
delete, "use these settings", "run again with this seed" (same bytes), API field errors next
to their field, network loss and recovery, a second user's empty history at 360 px, "delete
all my data" behind its typed confirmation; axe-core on every page; no console errors.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.browser.conftest import PASSWORD, Browsing, axe_violations, unique_user
from tests.e2e.test_local_stack import Stack

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.emulator, pytest.mark.terraform]

JOB_TIMEOUT_MS = 150_000
#: The first test's job, watched live: the contract's most steps, 8 images.
LIVE_JOB_STEPS = 100
LIVE_JOB_IMAGES = 8
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def check_axe(page: Any, where: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"axe-core on {where}: {violations}"


def sign_up(page: Any, browsing: Browsing, username: str) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    check_axe(page, "sign-in page")
    browsing.shot(page, "sign-in")
    page.get_by_role("button", name="Create an account").click()
    check_axe(page, "sign-up page")
    page.get_by_label("User name", exact=True).fill(username)
    page.get_by_label("E-mail", exact=True).fill(f"{username}@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    browsing.shot(page, "sign-up")
    page.get_by_role("button", name="Create account").click()
    # The emulator sends no e-mail and accepts any code: the page says so.
    expect(page.get_by_text("the emulator accepts any code")).to_be_visible()
    check_axe(page, "confirm page")
    browsing.shot(page, "confirm")
    page.get_by_label("Confirmation code", exact=True).fill("123456")
    page.get_by_role("button", name="Confirm and sign in").click()
    expect(page.get_by_test_id("signed-in-user")).to_have_text(username)


def sign_in(page: Any, username: str) -> None:
    page.goto("/")
    page.get_by_label("User name", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("signed-in-user")).to_have_text(username)


def fill_job(page: Any, prompt: str, *, seed: int | None = None, steps: int = 2) -> None:
    page.get_by_label("Prompt", exact=True).fill(prompt)
    page.get_by_label("Size preset", exact=True).select_option("custom")
    page.get_by_label("Width (px)", exact=True).fill("64")
    page.get_by_label("Height (px)", exact=True).fill("64")
    page.get_by_label("Steps", exact=True).fill(str(steps))
    page.get_by_label("Seed", exact=True).fill("" if seed is None else str(seed))


def card(page: Any, prompt: str, where: str = "watched") -> Any:
    return page.get_by_test_id(where).locator("article.job").filter(has_text=prompt).first


def pinned(page: Any, job: Any) -> Any:
    """The card of this very job, wherever newer cards push it."""
    job_id = job.get_attribute("data-job-id")
    assert job_id
    return page.locator(f'article.job[data-job-id="{job_id}"]')


def wait_done(job: Any) -> None:
    expect(job.get_by_test_id("job-status")).to_have_text("Done", timeout=JOB_TIMEOUT_MS)
    expect(job.get_by_role("img").first).to_be_visible()


def image_bytes(job: Any) -> bytes:
    url = job.get_by_role("img").first.get_attribute("src")
    response = requests.get(url, timeout=30)
    assert response.status_code == 200
    return response.content


def pixels(data: bytes) -> bytes:
    """The decoded RGB pixels (the PNG's text chunks name the job, so bytes differ)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


def png_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    assert data.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def test_sign_up_generate_watch_and_download(
    browsing: Browsing, web_stack: Stack, tmp_path: Path
) -> None:
    page = browsing.page()
    carol = unique_user("carol")
    sign_up(page, browsing, carol)
    check_axe(page, "generate page")
    browsing.shot(page, "generate")

    # Long enough (8 images of 100 steps, seconds even on fast cores) that the first poll, 1 s
    # after submitting, still finds it queued or running: a warm worker finishes a 2-step job
    # before that, and the card would never show the server's live state.
    fill_job(page, "a lighthouse at dawn", steps=LIVE_JOB_STEPS)
    page.get_by_label("Images", exact=True).fill(str(LIVE_JOB_IMAGES))
    page.get_by_role("button", name="Generate").click()
    job = card(page, "a lighthouse at dawn")
    # The server's queue position, or the running job's step: live, not the local placeholder.
    expect(
        job.locator("[data-testid=queue-info], [data-testid=job-progress]").first
    ).to_be_visible()
    expect(job).to_contain_text(re.compile(r"Position in queue: \d+|Step \d+ of \d+|Starting"))
    browsing.shot(page, "queued")
    check_axe(page, "generate page with a queued job")
    wait_done(job)
    # The seed field was empty: the seed that was used is shown.
    expect(job.get_by_test_id("job-seed")).to_have_text(re.compile(r"^seed \d+$"))
    browsing.shot(page, "done")

    with page.expect_download() as download_info:
        job.get_by_role("button", name=re.compile("^Download image 1")).click()
    saved = tmp_path / "download.png"
    download_info.value.save_as(saved)
    assert png_size(saved.read_bytes()) == (64, 64)

    # The session survives a reload; the history has the job, with its parameters.
    page.reload()
    expect(page.get_by_test_id("signed-in-user")).to_have_text(carol)
    page.get_by_role("link", name="History").click()
    listed = card(page, "a lighthouse at dawn", "history")
    expect(listed).to_contain_text(f"64\N{MULTIPLICATION SIGN}64 · {LIVE_JOB_STEPS} steps")
    check_axe(page, "history page")
    browsing.shot(page, "history")

    # Network loss: shown, then recovered from without a reload.
    browsing.expect_console_error(r"net::ERR_INTERNET_DISCONNECTED")
    page.context.set_offline(True)
    page.get_by_role("button", name="Refresh").click()
    expect(page.get_by_test_id("offline-banner")).to_be_visible()
    browsing.shot(page, "offline")
    page.context.set_offline(False)
    page.get_by_role("button", name="Refresh").click()
    expect(page.get_by_test_id("offline-banner")).to_be_hidden()


def test_img2img_with_upload_progress(browsing: Browsing, alice: str, tmp_path: Path) -> None:
    from PIL import Image

    page = browsing.page()
    sign_in(page, alice)
    # Client-side checks match the server's limits: a text file is refused next to the field.
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not an image")
    page.get_by_label("Input image file", exact=True).set_input_files(str(text_file))
    expect(page.locator("[data-field=input-image]")).to_contain_text("must be PNG, JPEG or WebP")

    # Drag and drop: a PNG dropped on the zone shows its preview.
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buffer, format="PNG")
    dropped = page.evaluate_handle(
        """(bytes) => {
            const data = new DataTransfer();
            data.items.add(new File([new Uint8Array(bytes)], 'dropped.png', {type: 'image/png'}));
            return data;
        }""",
        list(buffer.getvalue()),
    )
    page.get_by_test_id("dropzone").dispatch_event("drop", {"dataTransfer": dropped})
    expect(page.get_by_role("img", name="Input image preview: dropped.png")).to_be_visible()

    # The file picker replaces it.
    picked = tmp_path / "picked.png"
    Image.new("RGB", (64, 64), (30, 30, 200)).save(picked)
    page.get_by_label("Input image file", exact=True).set_input_files(str(picked))
    expect(page.get_by_role("img", name="Input image preview: picked.png")).to_be_visible()
    fill_job(page, "a blue lighthouse, img2img")
    page.get_by_label(re.compile("^Strength")).fill("0.6")
    check_axe(page, "generate page with an input image")
    browsing.shot(page, "img2img-form")
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_test_id("upload-progress")).to_have_attribute("value", "1")
    expect(page.get_by_text("100%")).to_be_visible()
    browsing.shot(page, "uploaded")
    job = card(page, "a blue lighthouse, img2img")
    expect(job).to_contain_text("img2img")
    wait_done(job)
    assert png_size(image_bytes(job)) == (64, 64)
    browsing.shot(page, "img2img-done")


def test_cancel_delete_and_run_again_with_the_same_seed(browsing: Browsing, alice: str) -> None:
    page = browsing.page()
    sign_in(page, alice)
    fill_job(page, "seeded harbour", seed=1234)
    page.get_by_role("button", name="Generate").click()
    first = pinned(page, card(page, "seeded harbour"))
    wait_done(first)
    expect(first.get_by_test_id("job-seed")).to_have_text("seed 1234")
    original = image_bytes(first)

    # "Use these settings" fills the form from the job.
    page.get_by_label("Prompt", exact=True).fill("something else")
    first.get_by_role("button", name="Use these settings").click()
    expect(page.get_by_label("Prompt", exact=True)).to_have_value("seeded harbour")
    expect(page.get_by_label("Seed", exact=True)).to_have_value("1234")
    expect(page.get_by_label("Width (px)", exact=True)).to_have_value("64")

    # "Run again with this seed": a second job with identical parameters, identical image.
    first.get_by_role("button", name="Run again with this seed").click()
    expect(page.get_by_text("Submitted again with seed 1234.")).to_be_visible()
    jobs = page.get_by_test_id("watched").locator("article.job").filter(has_text="seeded harbour")
    expect(jobs).to_have_count(2)
    again = pinned(page, jobs.first)
    assert again.get_attribute("data-job-id") != first.get_attribute("data-job-id")
    wait_done(again)
    assert pixels(image_bytes(again)) == pixels(original), "same seed and parameters, same image"
    browsing.shot(page, "run-again")

    # Delete a finished job's images: gone from the page and from storage.
    url = first.get_by_role("img").first.get_attribute("src")
    first.get_by_role("button", name="Delete images").click()
    expect(first.get_by_text("Images deleted.")).to_be_visible()
    assert requests.get(url, timeout=30).status_code == 404

    # Cancel a queued job: two long jobs keep both workers busy, the third waits.
    for n in (1, 2):
        fill_job(page, f"busy worker {n}", steps=100)
        page.get_by_label("Images", exact=True).fill("8")
        page.get_by_role("button", name="Generate").click()
        expect(card(page, f"busy worker {n}")).to_be_visible()
    fill_job(page, "to be cancelled", steps=100)
    page.get_by_label("Images", exact=True).fill("1")
    page.get_by_role("button", name="Generate").click()
    waiting = pinned(page, card(page, "to be cancelled"))
    expect(waiting.get_by_text(re.compile(r"Position in queue: \d+"))).to_be_visible()
    expect(waiting.get_by_test_id("job-status")).to_have_text("Queued")
    waiting.get_by_role("button", name="Cancel").click()
    expect(waiting.get_by_test_id("job-status")).to_have_text("Cancelled", timeout=JOB_TIMEOUT_MS)
    browsing.shot(page, "cancelled")
    for n in (1, 2):
        busy = card(page, f"busy worker {n}")
        if busy.get_by_role("button", name="Cancel").is_enabled():
            busy.get_by_role("button", name="Cancel").click()
    check_axe(page, "generate page with finished and cancelled jobs")


def test_api_field_error_appears_next_to_its_field(browsing: Browsing, alice: str) -> None:
    page = browsing.page()
    sign_in(page, alice)
    fill_job(page, "too many steps")
    steps = page.get_by_label("Steps", exact=True)
    # The form's own limit stops this first; lifted, the API's answer must reach the field.
    steps.evaluate("input => input.removeAttribute('max')")
    steps.fill("500")
    browsing.expect_console_error(r"status of 400")
    page.get_by_role("button", name="Generate").click()
    error = page.locator("[data-field=steps]")
    expect(error).to_have_text("steps: must be <= 100 (got 500)")
    error_id = error.get_attribute("id")
    assert error_id and error_id in (steps.get_attribute("aria-describedby") or "").split()
    expect(steps).to_have_attribute("aria-invalid", "true")
    expect(steps).to_be_focused()
    check_axe(page, "generate page with a field error")
    browsing.shot(page, "field-error")


def test_expired_session_keeps_the_form(browsing: Browsing, alice: str) -> None:
    page = browsing.page()
    sign_in(page, alice)
    fill_job(page, "half-written prompt kept across sign-in")
    # The tokens vanish (expired and not refreshable): submitting asks to sign in again.
    page.evaluate(
        "() => Object.keys(localStorage)"
        ".filter(k => k.startsWith('CognitoIdentityServiceProvider'))"
        ".forEach(k => localStorage.removeItem(k))"
    )
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_text("Your session has expired. Sign in again")).to_be_visible()
    browsing.shot(page, "session-expired")
    page.get_by_label("User name", exact=True).fill(alice)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Your session has expired. Sign in again")).to_be_hidden()
    expect(page.get_by_label("Prompt", exact=True)).to_have_value(
        "half-written prompt kept across sign-in"
    )
    page.get_by_role("button", name="Generate").click()
    expect(card(page, "half-written prompt kept across sign-in")).to_be_visible()


def test_second_user_sees_nothing_of_the_first_at_360_px(browsing: Browsing) -> None:
    page = browsing.page(width=360, height=740)
    bob = unique_user("bob")
    sign_up(page, browsing, bob)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
    page.get_by_role("link", name="History").click()
    expect(page.get_by_test_id("history-empty")).to_be_visible()
    expect(page.locator("article.job")).to_have_count(0)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
    check_axe(page, "history page at 360 px")
    browsing.shot(page, "second-user-history")
    # Keyboard only: sign out and back in without the mouse.
    page.get_by_role("button", name="Sign out").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("User name", exact=True).focus()
    page.keyboard.type(bob)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("signed-in-user")).to_have_text(bob)


def test_polling_pauses_while_hidden_and_429_says_when_to_retry(
    browsing: Browsing, web_stack: Stack, alice: str
) -> None:
    from sdfleet.aws import AwsClients
    from sdfleet_cli.local.cognito import LocalUsers

    state = web_stack.state
    api = str(state["api_url"])
    users = LocalUsers(
        AwsClients(str(state["aws_endpoint_url"]), str(state["region"])).cognito_idp(),
        str(state["user_pool_id"]),
        str(state["user_pool_client_id"]),
    )
    headers = {"Authorization": f"Bearer {users.sign_in(alice, PASSWORD).id_token}"}
    # Long enough (256 px, 100 steps, 8 images) that the quota stays full while the browser
    # signs in: a worker finishing one 64 px job in that time let "one too many" through.
    long_job = {"prompt": "long job", "width": 256, "height": 256, "steps": 100, "num_images": 8}
    created: list[str] = []

    def fill_quota() -> None:
        """Alice's quota of active jobs filled through the API, up to its 429."""
        for _ in range(60):
            response = requests.post(f"{api}/jobs", json=long_job, headers=headers, timeout=30)
            if response.status_code == 429:
                return
            assert response.status_code == 202, response.text
            created.append(response.json()["job_id"])
        pytest.fail("the quota of active jobs never answered 429")

    fill_quota()
    try:
        page = browsing.page()
        sign_in(page, alice)
        fill_job(page, "one too many")
        browsing.expect_console_error(r"status of 429")
        fill_quota()  # again: a job may have finished while the browser signed in
        page.get_by_role("button", name="Generate").click()
        expect(page.get_by_role("alert")).to_contain_text(re.compile(r"Try again in \d+ s\."))
        browsing.shot(page, "too-many-jobs")

        # The history's active cards poll; a hidden tab polls nothing, showing it polls at once.
        polls: list[str] = []
        page.on(
            "request",
            lambda r: polls.append(r.url) if re.search(r"/jobs/[0-9a-f]{32}$", r.url) else None,
        )
        page.get_by_role("link", name="History").click()
        expect(page.get_by_test_id("history").locator("article.job").first).to_be_visible()
        page.wait_for_timeout(1500)
        assert polls, "active jobs in the history are polled"
        set_hidden = """(hidden) => {
            Object.defineProperty(document, 'hidden', {configurable: true, get: () => hidden});
            Object.defineProperty(document, 'visibilityState',
                {configurable: true, get: () => hidden ? 'hidden' : 'visible'});
            document.dispatchEvent(new Event('visibilitychange'));
        }"""
        page.evaluate(set_hidden, True)
        page.wait_for_timeout(500)  # a request already under way may still finish
        polls.clear()
        page.wait_for_timeout(4000)
        assert polls == [], "a hidden tab must not poll"
        page.evaluate(set_hidden, False)
        page.wait_for_timeout(1000)
        assert polls, "showing the tab polls again at once"
    finally:
        for job_id in created:
            requests.delete(f"{api}/jobs/{job_id}", headers=headers, timeout=30)


def test_delete_all_my_data_behind_a_typed_confirmation(browsing: Browsing, alice: str) -> None:
    page = browsing.page()
    sign_in(page, alice)
    fill_job(page, "one more for the history")
    page.get_by_role("button", name="Generate").click()
    expect(card(page, "one more for the history")).to_be_visible()
    page.get_by_role("link", name="History").click()
    expect(page.get_by_test_id("history").locator("article.job").first).to_be_visible()
    delete = page.get_by_role("button", name="Delete everything")
    expect(delete).to_be_disabled()
    page.get_by_label("Confirmation", exact=True).fill("delete my dat")
    expect(delete).to_be_disabled()
    page.get_by_label("Confirmation", exact=True).fill("delete my data")
    browsing.shot(page, "delete-all-confirm")
    # A job card polling at that moment may find its job gone (404) before the list reloads.
    browsing.expect_console_error(r"status of 404 .*/jobs/[0-9a-f]{32}")
    delete.click()
    # The purge runs in the background (the scaler timer, every 5 s locally).
    expect(page.get_by_text(re.compile(r"Deleting your data"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"Deleted \d+ job\(s\) and \d+ file\(s\)\."))).to_be_visible(
        timeout=60_000
    )
    expect(page.get_by_test_id("history-empty")).to_be_visible()
    browsing.shot(page, "delete-all-done")
