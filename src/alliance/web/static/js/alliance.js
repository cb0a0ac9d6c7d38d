// Small progressive enhancements; every page works without them.
(function () {
  "use strict";
  // Visual-analogue lines: swap the number field for a slider that starts unanswered. The
  // slider writes into the number field (the one that is sent) only once the client touches,
  // drags or arrow-keys it, so an untouched line is sent empty and the server asks for it.
  document.querySelectorAll("[data-vas]").forEach(function (box) {
    var typed = document.getElementById(box.dataset.vas);
    var typedBox = document.querySelector("[data-vas-typed='" + box.dataset.vas + "']");
    var slider = box.querySelector("input[type=range]");
    var out = box.querySelector("output");
    if (!slider) { return; }
    var state = document.getElementById((slider.getAttribute("aria-describedby") || "").split(" ")[0]);
    if (!typed || !typedBox || !state) { return; }
    var show = function (answered) {
      box.classList.toggle("unanswered", !answered);
      state.classList.toggle("unanswered", !answered);
      if (answered) {
        var shown = Number(slider.value).toFixed(1);
        out.value = shown;
        state.textContent = "Your answer: " + shown;
        slider.removeAttribute("aria-valuetext");
      } else {
        out.value = "\u2013";
        state.textContent = "Not answered yet: touch or drag the line, or use the arrow keys.";
        // Never let a screen reader announce the hidden middle value of an untouched line.
        slider.setAttribute("aria-valuetext", "not answered");
      }
    };
    var answer = function () {
      typed.value = slider.value;
      show(true);
    };
    if (typed.value !== "") { slider.value = typed.value; }
    show(typed.value !== "");
    typedBox.hidden = true;
    box.hidden = false;
    state.hidden = false;
    // The error summary's link now leads to the slider, not the hidden number field.
    document.querySelectorAll("a[href='#" + typed.id + "']").forEach(function (link) {
      link.setAttribute("href", "#" + slider.id);
    });
    slider.addEventListener("input", answer);
    slider.addEventListener("change", answer);
    // A tap exactly on the hidden middle changes nothing, so no input event: count it anyway.
    slider.addEventListener("pointerup", answer);
  });
  // Copy-link buttons: shown only where the script runs; without it the address is plain
  // selectable text in a read-only field.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.dataset.copy);
    var status = document.querySelector("[data-copy-status='" + button.dataset.copy + "']");
    if (!field) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var said = function (text) { if (status) { status.textContent = text; } };
      field.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(
          function () { said("Link copied."); },
          function () { said("Press Ctrl+C (or Cmd+C) to copy the selected link."); }
        );
      } else {
        // Plain http on a clinic network has no clipboard API: the older command still works.
        said(document.execCommand("copy") ? "Link copied." : "Press Ctrl+C to copy the selected link.");
      }
    });
  });
  // A refused form: focus its error summary (a screen reader reads it, the eye finds it), whose
  // links put the cursor in each question still to answer. Without one, the first bad field.
  var summary = document.getElementById("error-summary");
  var invalid = document.querySelector("[aria-invalid='true']");
  if (summary) {
    summary.focus();
    summary.querySelectorAll("a[href^='#']").forEach(function (link) {
      link.addEventListener("click", function (event) {
        var target = document.getElementById(link.getAttribute("href").slice(1));
        if (!target) { return; }
        event.preventDefault();
        target.scrollIntoView({ block: "center" });
        target.focus({ preventScroll: true });
      });
    });
  } else if (invalid) {
    invalid.scrollIntoView({ block: "center" });
    invalid.focus({ preventScroll: true });
  }
  // A transcript over the limit is refused before it is sent (the server refuses it too).
  document.querySelectorAll("form[data-max-bytes]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var input = form.querySelector("input[type='file']");
      var file = input && input.files && input.files[0];
      var limit = Number(form.dataset.maxBytes);
      if (!file || file.size <= limit) { return; }
      event.preventDefault();
      var note = form.querySelector(".size-error") || document.createElement("p");
      note.className = "field-error size-error";
      note.setAttribute("role", "alert");
      note.textContent = "Nothing was sent. The file is " + (file.size / 1048576).toFixed(1) +
        " MB; the limit is " + Math.round(limit / 1048576) + " MB per transcript.";
      input.insertAdjacentElement("afterend", note);
      input.setAttribute("aria-invalid", "true");
    });
  });
  // Draw each chart from its inline Vega-Lite spec with the vendored bundle.
  document.querySelectorAll("script[type='application/vnd.vegalite+json']").forEach(function (node) {
    var target = document.getElementById(node.dataset.target);
    if (!target || typeof vegaEmbed !== "function") { return; }
    vegaEmbed(target, JSON.parse(node.textContent), { actions: false, renderer: "svg" })
      .then(function () { target.setAttribute("data-rendered", "1"); })
      .catch(function () { target.setAttribute("data-rendered", "error"); });
  });
})();
