// consentry: the consent banner. Served same-origin from /.consentry/banner.js so a
// `script-src 'self'` Content-Security-Policy allows it; no inline script anywhere.
//
// Without JavaScript the banner is a plain form that posts to /.consentry/consent.
// With it, the choice is posted there too, in the background (`via=banner`), so that
// the proxy records it (proof of consent) and sets the cookie; the page then reloads
// so that the next response is already enforced by the proxy. Should that post fail
// (a Content-Security-Policy without connect-src 'self', a network error), the
// choice is written here, in the configured format, as before.
(function () {
  "use strict";

  function chosen(form, choice) {
    var boxes = form.querySelectorAll('input[name="category"]');
    var granted = {};
    for (var i = 0; i < boxes.length; i++) {
      var box = boxes[i];
      // Disabled boxes are the required categories (always on) and those the
      // browser's Global Privacy Control refuses (data-gpc: always off).
      var on = box.hasAttribute("data-gpc") ? false : box.disabled ? true :
        choice === "accept_all" ? true : choice === "refuse_all" ? false : box.checked;
      granted[box.value] = on;
    }
    return granted;
  }

  function write(banner, granted) {
    var format = banner.getAttribute("data-format") || "json";
    var value;
    if (format === "list") {
      value = Object.keys(granted).filter(function (k) { return granted[k]; }).join(",");
    } else {
      var record = {};
      Object.keys(granted).forEach(function (k) { record[k] = granted[k]; });
      var rev = banner.getAttribute("data-revision");
      if (rev !== null) { record.rev = Number(rev); }
      value = JSON.stringify(record);
    }
    var cookie = banner.getAttribute("data-cookie") + "=" + encodeURIComponent(value) +
      "; Max-Age=" + (banner.getAttribute("data-max-age") || "15552000") +
      "; Path=/; SameSite=Lax";
    if (location.protocol === "https:") { cookie += "; Secure"; }
    document.cookie = cookie;
    // A copy the site's own scripts left on a deeper path (document.cookie without
    // Path= stores it under the page's directory) would make two preferences cookies,
    // which the proxy reads as no choice at all: expire any such copy on the way here.
    var name = banner.getAttribute("data-cookie");
    var dirs = location.pathname.split("/");
    for (var i = dirs.length - 1; i > 1; i--) {
      var path = dirs.slice(0, i).join("/");
      document.cookie = name + "=; Max-Age=0; Path=" + path;
      document.cookie = name + "=; Max-Age=0; Path=" + path + "/";
    }
  }

  // Posts the choice to the consent endpoint; resolves true once it answered with
  // its redirect (the cookie is then set), false otherwise.
  function post(form, choice, granted) {
    if (!window.fetch || !window.URLSearchParams || !window.Promise) {
      return { then: function (done) { done(false); } };
    }
    var body = new URLSearchParams();
    body.append("choice", choice === "accept_all" || choice === "refuse_all" ? choice : "save");
    Object.keys(granted).forEach(function (k) { if (granted[k]) { body.append("category", k); } });
    var back = form.querySelector('input[name="return"]');
    body.append("return", back ? back.value : location.pathname + location.search);
    // The language the banner was shown in: its policy text is what gets recorded.
    var lang = form.querySelector('input[name="lang"]');
    if (lang) { body.append("lang", lang.value); }
    body.append("via", "banner");
    return fetch(form.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      redirect: "manual",
      headers: { "Content-Type": "application/x-www-form-urlencoded" }
    }).then(function (response) {
      return response.type === "opaqueredirect" || response.status === 303;
    }, function () { return false; });
  }

  // Focus a visitor can see the browser marking: the keyboard's, not a mouse press.
  // Scrolling on a press would move the target from under the pointer, and the
  // click would land elsewhere.
  function keyboardFocus(element) {
    try { return element.matches(":focus-visible"); } catch (e) { return false; }
  }

  // Keeps the end of the page reachable above the fixed banner, and what takes the
  // keyboard focus in view above it (WCAG 2.2, 2.4.11 Focus Not Obscured): a browser
  // scrolls a focused element into view only when it is off-screen, not when it is
  // on screen under the banner.
  function makeRoom(banner) {
    var root = document.documentElement;
    var base = parseFloat(getComputedStyle(document.body).paddingBottom) || 0;
    function pad() {
      document.body.style.paddingBottom = (base + banner.offsetHeight) + "px";
      root.style.scrollPaddingBottom = banner.offsetHeight + "px";
    }
    pad();
    window.addEventListener("resize", pad);
    // Escape inside the banner closes it for this page, without a choice (it comes
    // back on the next page until one is made), and the focus returns to where it
    // was before the banner: the keyboard's way out of a dialog.
    var before = null;
    document.addEventListener("focusin", function (event) {
      if (event.target && !banner.contains(event.target)) { before = event.target; }
    });
    banner.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || banner.hidden) { return; }
      event.preventDefault();
      banner.hidden = true;
      pad();
      if (before && before.isConnected && before.focus) {
        before.focus();
      } else if (document.activeElement && document.activeElement.blur) {
        document.activeElement.blur();
      }
    });
    document.addEventListener("focusin", function (event) {
      var target = event.target;
      if (!target || !target.getBoundingClientRect || banner.contains(target) ||
          !banner.isConnected || !keyboardFocus(target)) { return; }
      var rect = target.getBoundingClientRect();
      var clear = window.innerHeight - banner.offsetHeight;
      if (rect.bottom > clear && rect.top >= 0 && rect.top < window.innerHeight) {
        window.scrollBy(0, Math.min(rect.bottom - clear + 8, rect.top));
      }
    });
  }

  function enhance(banner) {
    var form = banner.querySelector("form");
    if (!form) { return; }
    form.addEventListener("submit", function (event) {
      var button = event.submitter || document.activeElement;
      var choice = button && button.name === "choice" ? button.value : "save";
      event.preventDefault();
      var granted = chosen(form, choice);
      post(form, choice, granted).then(function (recorded) {
        if (!recorded) { write(banner, granted); }
        location.reload();
      });
    });
    // The banner does not take the focus: it is not modal, and taking it on every
    // page would pull keyboard and screen-reader users away from the page each time.
    if (banner.id === "consentry-banner") { makeRoom(banner); }
  }

  function start() {
    var banner = document.getElementById("consentry-banner");
    if (banner) { enhance(banner); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
