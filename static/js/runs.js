// Training run pages.
//
// Stage boundaries: a run trained in stages logs its steps across the whole plan, and its charts'
// data carry `stageBoundaries` ([{step, stage}]). This Chart.js plugin draws a dashed line before
// each boundary step with the stage's name. Registered when the script runs (deferred, after
// Chart.js and before the charts are drawn on DOMContentLoaded).
(function () {
  "use strict";
  if (typeof Chart === "undefined") return;
  Chart.register({
    id: "stageBoundaries",
    afterDatasetsDraw: function (chart) {
      var marks = (chart.data && chart.data.stageBoundaries) || [];
      var labels = chart.data.labels || [];
      var x = chart.scales.x, area = chart.chartArea, ctx = chart.ctx, drawn = 0;
      if (!x || !area) return;
      ctx.save();
      ctx.strokeStyle = "#616161";
      ctx.fillStyle = "#424242";
      ctx.lineWidth = 1.5;
      ctx.setLineDash([6, 4]);
      ctx.font = "12px sans-serif";
      marks.forEach(function (mark) {
        var index = labels.indexOf(mark.step);
        if (index < 0) return;
        var at = x.getPixelForValue(index);
        var px = index > 0 ? (x.getPixelForValue(index - 1) + at) / 2 : at;
        ctx.beginPath();
        ctx.moveTo(px, area.top);
        ctx.lineTo(px, area.bottom);
        ctx.stroke();
        ctx.fillText(mark.stage, px + 4, area.top + 12);
        drawn += 1;
      });
      ctx.restore();
      chart.canvas.dataset.stageBoundaries = String(drawn);
    }
  });
})();

// The run form: when a dataset version is chosen, suggest the number of epochs for its size
// (3 for a small vertical set, 1 otherwise) unless the person has typed their own; the DMT share
// only matters to the DMT strategy, and the specialist task types to every staged strategy.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("id_dataset_version");
    var epochs = document.getElementById("id_epochs");
    var hint = document.getElementById("epochs-hint");
    if (!select || !epochs || !hint) return;
    var edited = false;
    epochs.addEventListener("input", function () { edited = true; });
    function suggest(apply) {
      var option = select.options[select.selectedIndex];
      if (!option || !option.dataset.epochs) { hint.textContent = ""; return; }
      var train = Number(option.dataset.train);
      var small = Number(hint.dataset.smallSet);
      var values = { train: train, epochs: option.dataset.epochs, small: small };
      hint.textContent = interpolate(
        train < small
          ? gettext("Suggested for %(train)s training conversations: %(epochs)s (a small set: under %(small)s).")
          : gettext("Suggested for %(train)s training conversations: %(epochs)s."),
        values, true);
      if (apply && !edited) epochs.value = option.dataset.epochs;
    }
    select.addEventListener("change", function () { suggest(true); });
    suggest(false);  // on load the server's value stands (it may be what was posted)

    var strategy = document.getElementById("id_strategy");
    function showPlanFields() {
      var value = strategy ? strategy.value : "multi_task";
      document.querySelectorAll(".field-dmt_k").forEach(function (el) { el.hidden = value !== "dmt"; });
    }
    if (strategy) { strategy.addEventListener("change", showPlanFields); showPlanFields(); }
  });
})();
