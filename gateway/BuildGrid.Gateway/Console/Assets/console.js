// BuildGrid console: the few live parts, on top of pages that work without script.
// - Copy buttons (data-copy="<input id>"): the Clipboard API, else select + execCommand.
// - Forms with data-confirm ask before submitting; a posted form's button shows it is busy.
// - The run page's log (pre#log[data-stream]): follows the run's server-sent events, appends lines in batches per
//   animation frame, keeps the last data-keep lines in the page, and updates the run's state when the stream ends.
"use strict";

(function () {
  function copy(button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    var status = button.parentElement.querySelector(".copied");
    if (!field) return;
    function done(ok) { if (status) status.textContent = ok ? "Copied" : "Select the text and copy it"; }
    function fallback() {
      field.focus();
      field.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      done(ok);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(function () { done(true); }, fallback);
    } else {
      fallback();
    }
  }

  function follow(log) {
    var keep = parseInt(log.getAttribute("data-keep") || "5000", 10);
    var status = document.getElementById("log-status");
    var state = document.getElementById("run-state");
    var failure = document.getElementById("run-failure");
    var pending = [];
    var scheduled = false;
    var source = new EventSource(log.getAttribute("data-stream"));

    function atBottom() { return log.scrollHeight - log.scrollTop - log.clientHeight < 40; }
    function flush() {
      scheduled = false;
      var stick = atBottom();
      var fragment = document.createDocumentFragment();
      for (var i = 0; i < pending.length; i++) {
        var span = document.createElement("span");
        span.className = "line";
        span.setAttribute("data-n", pending[i].n);
        span.textContent = pending[i].text + "\n";
        fragment.appendChild(span);
      }
      pending = [];
      log.appendChild(fragment);
      while (log.childElementCount > keep) log.removeChild(log.firstElementChild);
      if (stick) log.scrollTop = log.scrollHeight;
      if (status && status.textContent.indexOf("Waiting") === 0) status.textContent = "Following the log…";
    }
    source.onmessage = function (e) {
      pending.push({ n: e.lastEventId, text: e.data });
      if (!scheduled) { scheduled = true; window.requestAnimationFrame(flush); }
    };
    source.addEventListener("end", function (e) {
      source.close();
      flush();
      var end = {};
      try { end = JSON.parse(e.data); } catch (x) { end = {}; }
      var words = (end.state || "").replace("RUN_STATE_", "").toLowerCase().replace("_", " ");
      if (state && words) {
        state.textContent = words;
        state.className = "state state-" + words.replace(" ", "-");
      }
      if (failure && end.failureReason) { failure.textContent = end.failureReason; failure.hidden = false; }
      if (status) status.textContent = "The run has finished" + (words ? " (" + words + ")." : ".");
      document.querySelectorAll("form[data-live-only]").forEach(function (f) { f.hidden = true; });
    });
    source.addEventListener("error", function (e) {
      if (e.data) {
        source.close();
        var problem = {};
        try { problem = JSON.parse(e.data); } catch (x) { problem = { message: e.data }; }
        if (status) status.textContent = "The log stream failed: " + (problem.message || "unknown error");
      } else if (status && source.readyState === EventSource.CONNECTING) {
        status.textContent = "Connection lost; reconnecting…";
      }
    });
  }

  document.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest("button[data-copy]") : null;
    if (button) copy(button);
  });
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.hasAttribute("data-confirm") && !window.confirm(form.getAttribute("data-confirm"))) {
      e.preventDefault();
      return;
    }
    // Progress for a slow write (a build, a sign-in): the button says so and cannot be pressed twice.
    var button = form.querySelector("button[type=submit]");
    if (button && form.method.toLowerCase() === "post") {
      window.setTimeout(function () {
        button.disabled = true;
        button.setAttribute("aria-busy", "true");
        button.textContent = button.textContent + "…";
      }, 0);
    }
  });
  // Back to a page kept in the back-forward cache: its busy buttons are usable again.
  window.addEventListener("pageshow", function (e) {
    if (!e.persisted) return;
    document.querySelectorAll("button[aria-busy=true]").forEach(function (b) {
      b.disabled = false;
      b.removeAttribute("aria-busy");
      b.textContent = b.textContent.replace(/…$/, "");
    });
  });
  document.addEventListener("DOMContentLoaded", function () {
    var log = document.querySelector("pre#log[data-stream]");
    if (log) follow(log);
  });
})();
