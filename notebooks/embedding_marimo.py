import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import os

    import marimo as mo

    from cocalc_widgets import CoCalcClient, CoCalcFrame
    from cocalc_widgets.marimo import frame_state

    return CoCalcClient, CoCalcFrame, frame_state, mo, os


@app.cell
def _(mo):
    mo.md("""
    # CoCalc inside a marimo notebook

    `CoCalcFrame` shows a CoCalc file and drives it with CoCalc's IFrame commands. marimo delivers a
    widget's messages from the browser only **between cell runs**, so a cell cannot `await` a
    command here (it says so at once). Drive the frame from buttons and callbacks instead:
    `frame_state(frame)` is a marimo state that re-runs the cells reading it whenever CoCalc
    answers.

    It runs against the demo's CoCalc emulator (`COCALC_HOST`, `COCALC_API_KEY` and
    `COCALC_ACCOUNT_ID` set), or any CoCalc that lists this page's host in `iframe_comm_hosts`.
    """)
    return


@app.cell
def _(CoCalcClient, CoCalcFrame, os):
    client = CoCalcClient()
    projects = {p["title"]: p["project_id"] for p in client.projects()}
    # Signed in with a fresh auth token for the demo account (never shown or saved).
    frame = CoCalcFrame(
        projects["Instructor"],
        "handout/README.md",
        client=client,
        account_id=os.environ["COCALC_ACCOUNT_ID"],
        height=320,
    )
    return (frame,)


@app.cell
def _(frame, frame_state):
    state = frame_state(frame)
    return (state,)


@app.cell
def _(frame, mo):
    files = ["handout/README.md", "handout/data.csv", "handout/homework1.ipynb"]
    picker = mo.ui.dropdown(files, value="handout/data.csv", label="file")
    open_button = mo.ui.button(
        label="open", on_click=lambda _value: frame.open_file(picker.value)
    )
    status_button = mo.ui.button(label="status", on_click=lambda _value: frame.status())
    closeall_button = mo.ui.button(label="close all", on_click=lambda _value: frame.closeall())
    mo.hstack([picker, open_button, status_button, closeall_button], justify="start")
    return


@app.cell
def _(frame):
    frame
    return


@app.cell
def _(mo, state):
    s = state()
    reply = s["last_reply"]
    shown = reply.get("path") or reply.get("mesg") or reply.get("status") or "none yet"
    mo.md(
        f"""
    **mode** `{s["mode"]}` · **bridge ready** `{s["ready"]}` · **last reply** `{shown}`
    · **open files** `{sum(len(v) for v in s["open_files"].values())}`
    · **project-log events** `{len(s["project_log"])}`
    """
    )
    return


if __name__ == "__main__":
    app.run()
