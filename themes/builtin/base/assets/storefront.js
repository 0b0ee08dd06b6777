(function () {
  "use strict";
  // Banner carousels turn by themselves.
  document.querySelectorAll(".banner").forEach(function (banner) {
    var slides = banner.querySelectorAll(".slide");
    var seconds = parseInt(banner.getAttribute("data-interval"), 10) || 4;
    if (slides.length < 2) { return; }
    var at = 0;
    setInterval(function () {
      slides[at].classList.remove("on");
      at = (at + 1) % slides.length;
      slides[at].classList.add("on");
    }, seconds * 1000);
  });
  // Spec picker: show the chosen SKU's price.
  var product = document.querySelector(".product[data-skus]");
  if (product) {
    var skus = [];
    try { skus = JSON.parse(product.getAttribute("data-skus")); } catch (e) { skus = []; }
    var price = product.querySelector("[data-price]");
    product.querySelectorAll("input[name=sku]").forEach(function (input) {
      input.addEventListener("change", function () {
        var chosen = skus.filter(function (s) { return String(s.id) === input.value; })[0];
        var label = input.parentNode.querySelector(".sku-price");
        if (chosen && price && label) { price.textContent = label.textContent; }
      });
    });
  }
  // A placed order is sent once, even when the buyer taps twice.
  document.querySelectorAll("form.checkout").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var button = event.submitter;
      if (button && button.hasAttribute("data-place-order")) {
        if (form.getAttribute("data-sent")) { event.preventDefault(); return; }
        form.setAttribute("data-sent", "1");
      }
    });
  });
})();
(function () {
  "use strict";
  // Limited-time offers count down to their end.
  document.querySelectorAll("[data-ends]").forEach(function (node) {
    var ends = Date.parse(node.getAttribute("data-ends"));
    var out = node.querySelector("[data-countdown]");
    if (!ends || !out) { return; }
    function tick() {
      var left = Math.max(0, Math.floor((ends - Date.now()) / 1000));
      var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
      out.textContent = (h < 10 ? "0" : "") + h + ":" + (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
      if (left > 0) { setTimeout(tick, 1000); }
    }
    tick();
  });
})();
