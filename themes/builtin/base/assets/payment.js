(function () {
  "use strict";
  var form = document.getElementById("card-form");
  if (!form || typeof Stripe === "undefined") { return; }
  var stripe = Stripe(form.getAttribute("data-publishable-key"));
  var card = stripe.elements().create("card");
  card.mount("#card-element");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var button = document.getElementById("card-submit");
    button.disabled = true;
    stripe.confirmCardPayment(form.getAttribute("data-client-secret"), {payment_method: {card: card}}).then(function (result) {
      if (result.error) {
        document.getElementById("card-errors").textContent = result.error.message;
        button.disabled = false;
        return;
      }
      window.location.href = form.getAttribute("data-return");
    });
  });
})();
