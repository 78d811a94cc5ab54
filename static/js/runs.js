// The run form: when a dataset version is chosen, suggest the number of epochs for its size
// (3 for a small vertical set, 1 otherwise) unless the person has typed their own.
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
      hint.textContent = "Suggested for " + train + " training conversations: " + option.dataset.epochs +
        (train < small ? " (a small set: under " + small + ")." : ".");
      if (apply && !edited) epochs.value = option.dataset.epochs;
    }
    select.addEventListener("change", function () { suggest(true); });
    suggest(false);  // on load the server's value stands (it may be what was posted)
  });
})();
