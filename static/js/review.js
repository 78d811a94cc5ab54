// The review pages' keyboard and small behaviours. No inline code anywhere (the CSP forbids it):
// everything hangs off data- attributes the templates render.
(function () {
  "use strict";

  function typing(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName.toLowerCase();
    if (tag === "textarea" || tag === "select") return true;
    if (tag === "input") return !/^(checkbox|radio|button|submit)$/.test(target.type);
    return target.isContentEditable;
  }

  function changed(input) {
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  // --- the annotator's item page --------------------------------------------------------------
  function itemPage(form) {
    var turns = Array.prototype.slice.call(document.querySelectorAll("[data-turn]"));
    var groups = Array.prototype.slice.call(form.querySelectorAll(".choice-group"));
    var overlay = document.getElementById("help-overlay");
    var currentTurn = -1;
    var currentGroup = 0;

    function focusTurn(index) {
      if (!turns.length) return;
      currentTurn = Math.max(0, Math.min(turns.length - 1, index));
      turns.forEach(function (t, i) { t.classList.toggle("turn-focused", i === currentTurn); });
      turns[currentTurn].scrollIntoView({ block: "center" });
    }

    function activateGroup(index) {
      if (!groups.length) return;
      currentGroup = Math.max(0, Math.min(groups.length - 1, index));
      groups.forEach(function (g, i) { g.classList.toggle("active", i === currentGroup); });
    }

    function nextUnansweredGroup(from) {
      for (var i = from + 1; i < groups.length; i++) {
        if (!groups[i].querySelector("input:checked")) return i;
      }
      return Math.min(from + 1, groups.length - 1);
    }

    function toggleHelp(show) {
      if (!overlay) return;
      var visible = show === undefined ? overlay.classList.contains("hidden") : show;
      overlay.classList.toggle("hidden", !visible);
    }

    var subject = turns.findIndex(function (t) { return t.classList.contains("turn-subject"); });
    if (subject >= 0) focusTurn(subject);
    activateGroup(groups.findIndex(function (g) { return !g.querySelector("input:checked"); }));
    groups.forEach(function (g, i) { g.addEventListener("click", function () { activateGroup(i); }); });
    turns.forEach(function (t, i) { t.addEventListener("click", function () { focusTurn(i); }); });
    document.querySelectorAll("[data-help-toggle]").forEach(function (b) {
      b.addEventListener("click", function () { toggleHelp(); });
    });

    // Keys outside a text box are shortcuts, so a person who starts typing an answer with no
    // box focused must not fire them: the first key that has nothing to act on (a letter that
    // is no shortcut, `e` on a turn without an edit box, a digit with no such answer) does
    // nothing, says so, and pauses every shortcut until Esc or a click. Skipping takes `s`
    // twice in a row, so a stray word that starts with s skips nothing.
    var status = document.getElementById("key-status");
    var say = document.getElementById("key-messages");
    var paused = false;
    var skipArmed = false;

    function tell(message, kind) {
      if (!status) return;
      status.textContent = message;
      status.className = "key-status key-status-" + (kind || "info");
    }

    function text(name, value) {
      var message = say ? say.getAttribute("data-" + name) || "" : "";
      return value === undefined ? message : message.replace("%s", value);
    }

    function pause(reason) {
      paused = true;
      skipArmed = false;
      tell(reason + " " + text("paused"), "warn");
    }

    function resume() {
      if (!paused && !skipArmed) return;
      paused = false;
      skipArmed = false;
      tell(text("resumed"), "info");
    }

    document.addEventListener("mousedown", function (event) {
      if (paused && form.contains(event.target)) resume();
    });

    document.addEventListener("keydown", function (event) {
      if (event.altKey || event.metaKey) return;
      var inText = typing(event.target);
      if (event.key === "Escape") {
        if (overlay && !overlay.classList.contains("hidden")) { toggleHelp(false); return; }
        if (inText) { event.target.blur(); return; }
        if (paused || skipArmed) { resume(); event.preventDefault(); }
        return;
      }
      if (inText) {
        if (event.key === "Enter" && event.ctrlKey) {
          event.preventDefault();
          form.requestSubmit(document.getElementById("submit-button"));
        }
        return;
      }
      if (event.ctrlKey) return;
      var key = event.key;
      if (key === "?") { toggleHelp(); event.preventDefault(); return; }
      if (paused) {
        // Swallow it: this key belongs to text that has no box to go to.
        if (key.length === 1 || key === "Enter") { event.preventDefault(); tell(text("ignored") + " " + text("paused"), "warn"); }
        return;
      }
      if (key === "Enter") {
        var tag = event.target.tagName ? event.target.tagName.toLowerCase() : "";
        if (tag === "button" || tag === "a" || tag === "summary") return;
        event.preventDefault();
        form.requestSubmit(document.getElementById("submit-button"));
        return;
      }
      if (key.length !== 1 || key === " ") return;  // arrows, Tab, Space: the browser's own
      if (skipArmed && key !== "s") { skipArmed = false; tell("", "info"); }
      var turn = currentTurn >= 0 ? turns[currentTurn] : null;
      if (/^[1-9]$/.test(key)) {
        var options = groups.length ? groups[currentGroup].querySelectorAll("input[type=radio]") : [];
        var option = options[parseInt(key, 10) - 1];
        if (!option) { pause(text(groups.length ? "no-answer" : "no-question", key)); event.preventDefault(); return; }
        option.checked = true;
        changed(option);
        activateGroup(nextUnansweredGroup(currentGroup));
      } else if (key === "j") { focusTurn(currentTurn + 1); }
      else if (key === "k") { focusTurn(currentTurn - 1); }
      else if (key === "l") { activateGroup(currentGroup + 1); }
      else if (key === "h") { activateGroup(currentGroup - 1); }
      else if (key === "t") {
        var train = turn && turn.querySelector("[data-train]");
        if (!train) { pause(text("no-train")); event.preventDefault(); return; }
        train.checked = !train.checked;
        changed(train);
      } else if (key === "e") {
        var edit = turn && turn.querySelector("[data-edit]");
        if (!edit) { pause(text("no-edit")); event.preventDefault(); return; }
        edit.open = true;
        var box = edit.querySelector("textarea");
        box.focus();
        box.setSelectionRange(box.value.length, box.value.length);  // go on writing at the end
      } else if (key === "y" || key === "n") {
        var answer = turn && turn.querySelector('[data-continuity="' + (key === "y" ? "yes" : "no") + '"]');
        if (!answer) { pause(text("no-continuity")); event.preventDefault(); return; }
        answer.checked = true;
        changed(answer);
      } else if (key === "s") {
        var skip = document.getElementById("skip-form");
        if (!skip) { pause(text("no-skip")); event.preventDefault(); return; }
        if (skipArmed) { skipArmed = false; skip.requestSubmit(); }
        else { skipArmed = true; tell(text("skip-again"), "warn"); }
      } else {
        pause(text("not-a-shortcut", key));
      }
      event.preventDefault();
    });
  }

  // --- the queues page: digits start a queue ---------------------------------------------------
  function homePage(forms) {
    document.addEventListener("keydown", function (event) {
      if (typing(event.target) || event.ctrlKey || event.altKey || event.metaKey) return;
      var form = document.querySelector('[data-start-queue="' + event.key + '"]');
      if (form && !form.querySelector("button").disabled) { event.preventDefault(); form.requestSubmit(); }
    });
  }

  // --- the engineers' item list: "select all" is the filter, not the ticked rows ---------------
  function itemList(selectAll) {
    var rows = document.querySelectorAll("[data-row]");
    var pageBox = document.querySelector("[data-check-page]");
    selectAll.addEventListener("change", function () {
      rows.forEach(function (r) { r.checked = selectAll.checked; r.disabled = selectAll.checked; });
      if (pageBox) { pageBox.checked = selectAll.checked; pageBox.disabled = selectAll.checked; }
    });
    if (pageBox) pageBox.addEventListener("change", function () {
      rows.forEach(function (r) { r.checked = pageBox.checked; });
    });
  }

  // --- the undo toast: counts down, and goes once the decision is final ----------------------
  function undoToast(toast) {
    var until = Date.parse(toast.getAttribute("data-undo-until"));
    var countdown = toast.querySelector("[data-undo-countdown]");
    function tick() {
      var left = Math.ceil((until - Date.now()) / 1000);
      if (!(left > 0)) { toast.remove(); return; }
      if (countdown) countdown.textContent = "(" + left + " s)";
      window.setTimeout(tick, 1000);
    }
    tick();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var toast = document.getElementById("undo-toast");
    if (toast) undoToast(toast);
    var form = document.getElementById("review-form");
    if (form && form.hasAttribute("data-claimed")) itemPage(form);
    var starts = document.querySelectorAll("[data-start-queue]");
    if (starts.length) homePage(starts);
    var selectAll = document.querySelector("[data-select-all]");
    if (selectAll) itemList(selectAll);
  });
})();
