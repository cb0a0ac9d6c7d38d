// Small progressive enhancements; every page works without them.
(function () {
  "use strict";
  // Show a slider's value next to it as the client moves it.
  document.querySelectorAll("input[type=range][data-output]").forEach(function (slider) {
    var out = document.getElementById(slider.dataset.output);
    var sync = function () { if (out) { out.value = Number(slider.value).toFixed(1); } };
    slider.addEventListener("input", sync);
    sync();
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
