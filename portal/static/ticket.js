// The ticket page: follows /ve/{token}/live (server-sent events) and redraws without reloading.
// Vibrates and beeps when the ticket is called, or when 3 or fewer people are ahead.
(function () {
  "use strict";
  var box = document.getElementById("ticket");
  if (!box || !window.EventSource) { return; }
  var token = box.getAttribute("data-token");
  var L = JSON.parse(document.getElementById("labels").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var last = { status: null, near: false };
  var audio = null;

  $("sound").addEventListener("click", function () {
    try { audio = audio || new (window.AudioContext || window.webkitAudioContext)(); audio.resume(); } catch (e) { audio = null; }
    beep();
  });

  function beep() {
    if (navigator.vibrate) { navigator.vibrate([300, 150, 300]); }
    if (!audio) { return; }
    var o = audio.createOscillator(), g = audio.createGain();
    o.frequency.value = 880; o.connect(g); g.connect(audio.destination);
    g.gain.value = 0.3; o.start(); o.stop(audio.currentTime + 0.6);
  }

  function draw(v) {
    var atDesk = v.desk && (v.status === "called" || v.status === "recalled" || v.status === "serving");
    var st = $("status");
    st.textContent = (L.st[v.status] || v.status) + (atDesk ? " " + v.desk : "");
    st.className = "status st-" + v.status;
    $("number").textContent = v.ticket;
    $("service").textContent = box.getAttribute("data-lang") === "en" ? v.service_en : v.service_vi;
    var waiting = v.status === "waiting" || v.status === "transferred";
    $("facts").hidden = !waiting;
    $("ahead").textContent = v.ahead === null ? "–" : String(v.ahead);
    $("wait").textContent = v.wait_min === null ? L.unknown_wait : v.wait_min + " " + L.minutes;
    $("rate").hidden = !(v.status === "finished" && !v.rated);
    var near = waiting && v.ahead !== null && v.ahead <= 3;
    if ((v.status === "called" || v.status === "recalled") && last.status !== v.status) { beep(); }
    else if (near && !last.near) { beep(); }
    last = { status: v.status, near: near };
    document.body.setAttribute("data-status", v.status);
  }

  function connect() {
    var es = new EventSource("/ve/" + token + "/live");
    es.onmessage = function (e) { $("live-off").hidden = true; draw(JSON.parse(e.data)); };
    es.onerror = function () { $("live-off").hidden = false; };
  }
  connect();
}());
