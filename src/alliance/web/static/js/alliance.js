// Small progressive enhancements; every page works without them.
(function () {
  "use strict";
  // Visual-analogue lines: the number field is the answer, and what the keyboard and screen
  // readers use. Beside it the script shows a slider for touch and mouse, which writes into the
  // field only once it is touched or dragged, and follows what is typed; so an untouched line is
  // sent empty and the server asks for it. The slider stays out of the accessibility tree: a
  // native slider always exposes a value, and untouched that would be its hidden middle.
  document.querySelectorAll("[data-vas]").forEach(function (box) {
    var typed = document.getElementById(box.dataset.vas);
    var track = box.querySelector(".vas-track");
    var slider = box.querySelector("input[type=range]");
    var state = box.querySelector(".vas-state");
    if (!typed || !track || !slider || !state) { return; }
    var low = Number(slider.min);
    var high = Number(slider.max);
    var decimals = (String(Number(slider.step)).split(".")[1] || "").length;
    var show = function () {
      var text = typed.value.trim();
      var value = Number(text);
      var answered = text !== "" && value >= low && value <= high;
      box.classList.toggle("unanswered", !answered);
      state.classList.toggle("unanswered", !answered);
      if (answered) {
        slider.value = text;
        state.textContent = "Your answer: " + value.toFixed(decimals);
      } else if (text !== "" || typed.validity.badInput) {
        state.textContent = "Please type a number from " + low + " to " + high + ".";
      } else {
        state.textContent = "Not answered yet: touch or drag the line, or type a number.";
      }
    };
    var answer = function () {
      typed.value = slider.value;
      show();
    };
    track.hidden = false;
    state.hidden = false;
    show();
    // Focus is let go once more after the browser's own handling of the tap, which may focus it
    // again after pointerup.
    function letGo() {
      slider.blur();
      window.setTimeout(function () { slider.blur(); }, 0);
    }
    slider.addEventListener("input", answer);
    slider.addEventListener("change", function () {
      answer();
      letGo();
    });
    // A tap exactly on the hidden middle changes nothing, so no input event: count it anyway.
    // Then let go of the focus the tap gave the slider: a focused element reaches assistive
    // tech whatever aria-hidden says, and the next Tab goes on to the number field.
    slider.addEventListener("pointerup", function () {
      answer();
      letGo();
    });
    typed.addEventListener("input", show);
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
