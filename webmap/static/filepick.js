/* A file field in Chinese: the browser's own button speaks the browser's language
   ("Choose File"), so the input is hidden visually and a label stands in for it; the
   chosen file's name goes into the element named by data-name. */
(function () {
  "use strict";
  document.querySelectorAll("input[type=file][data-name]").forEach(function (input) {
    var out = document.getElementById(input.dataset.name);
    input.addEventListener("change", function () {
      out.textContent = input.files.length ? input.files[0].name : "未选择文件";
    });
  });
}());
