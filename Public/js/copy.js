// Copy buttons for command blocks. Without JavaScript the buttons stay hidden and each block is
// a plain selectable <pre> (one click selects it whole, see .copyable in vnetd.css).
for (const button of document.querySelectorAll("button.copy[data-copy]")) {
  const block = document.getElementById(button.dataset.copy);
  if (!block) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(block.textContent);
      button.textContent = "Copied";
    } catch {
      const range = document.createRange();
      range.selectNodeContents(block);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      button.textContent = "Selected: press Ctrl+C";
    }
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  });
}
