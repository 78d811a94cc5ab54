// Review pages of constructed answers and pairs: the edit box of the answer under review
// starts from the constructed text (not the original bad answer), so "edit" means editing
// what will be trained on. Data comes from a json_script block; no inline code (CSP).
(function () {
  "use strict";
  function prefill() {
    var source = document.getElementById("construction-prefill");
    if (!source) return;
    var data = JSON.parse(source.textContent);
    if (!data || !data.message_id) return;
    var box = document.getElementById("edit-" + data.message_id);
    if (!box || box.dataset.prefilled) return;
    box.dataset.prefilled = "1";
    // Only an untouched box is filled: after an error the page shows what the reviewer typed.
    if (box.value.replace(/\r\n/g, "\n") === data.original) box.value = data.text;
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", prefill);
  else prefill();
})();
