#!/usr/bin/python3
"""The admin site in a real browser: headless Chromium, clicking and typing.

Walks create network -> DHCP -> VM -> adapters -> move -> remove at 1366 px and at 390 px, and
checks on every page: no horizontal overflow at 390 px, command blocks fully visible, every
form control labelled, notices that say what happened. Saves screenshots when asked.

Usage: walk.py --url http://127.0.0.1:PORT --password-file FILE [--screenshots DIR]
Exit status 0 when every check held; otherwise each failed check is printed, one a line.
Needs Debian's chromium, chromium-driver and python3-selenium.
"""
import argparse
import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

FAILURES = []


def check(condition, message):
    if not condition:
        FAILURES.append(message)
    return condition


def gone(element):
    """True once `element`'s document was replaced. Chromium reports a node of a replaced document
    either as stale or, while the next one loads, as an inspector error that selenium's
    staleness_of does not know."""
    try:
        element.is_enabled()
        return False
    except StaleElementReferenceException:
        return True
    except WebDriverException as error:
        if "does not belong to the document" in str(error):
            return True
        raise


def browser(width):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={width},900", "--hide-scrollbars", "--lang=en-US"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    # The viewport itself at the width asked for (the window includes no chrome when headless).
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 500})
    return driver


class Walk:
    def __init__(self, driver, url, width, screenshots):
        self.driver = driver
        self.url = url.rstrip("/")
        self.width = width
        self.screenshots = screenshots
        self.tag = f"{width}px"

    def go(self, path):
        self.driver.get(self.url + path)
        self.settle()
        self.page_checks(path)

    def settle(self):
        """Waits until the page after a redirect has loaded and its scripts ran."""
        WebDriverWait(self.driver, 15).until(lambda d: d.execute_script("return document.readyState") == "complete")
        time.sleep(0.05)

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def finds(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self):
        return self.find("body").text

    def submit(self, css="main form.editor button[type=submit]"):
        old = self.find("html")
        self.find(css).click()
        WebDriverWait(self.driver, 15).until(lambda _: gone(old))
        self.settle()
        self.page_checks(self.driver.current_url)

    def shot(self, name):
        if self.screenshots:
            self.driver.save_screenshot(os.path.join(self.screenshots, f"{name}-{self.width}.png"))

    def page_checks(self, where):
        # A node found a moment ago can belong to a document the page has since replaced (a
        # script rebuilding a block, a late navigation on a loaded machine): settle, check again.
        for attempt in range(3):
            try:
                return self.checks_once(where)
            except (StaleElementReferenceException, WebDriverException) as error:
                if attempt == 2 or not ("does not belong to the document" in str(error) or isinstance(error, StaleElementReferenceException)):
                    raise
                self.settle()

    def checks_once(self, where):
        d = self.driver
        where = f"{self.tag} {where.replace(self.url, '')}"
        if self.width <= 400:
            overflow = d.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            check(overflow <= 0, f"{where}: the page is {overflow} px wider than the screen")
            wide = d.execute_script("""
                const out = [];
                for (const e of document.querySelectorAll('main *')) {
                  const r = e.getBoundingClientRect();
                  if (r.width > 0 && r.right > document.documentElement.clientWidth + 1) out.push(e.tagName + '.' + e.className);
                }
                return out.slice(0, 5);""")
            check(not wide, f"{where}: elements run past the right edge: {wide}")
            menu_open = d.execute_script(
                "const m = document.querySelector('nav.sidebar .menu'); return m && getComputedStyle(m).display !== 'none';")
            check(not menu_open, f"{where}: the menu starts open at phone width")
            brand = self.finds("header .brand")
            host = self.finds("header .host")
            if brand and host:
                b, h = brand[0].rect, host[0].rect
                apart = b["x"] + b["width"] <= h["x"] or h["y"] >= b["y"] + b["height"] - 1
                check(apart, f"{where}: the top bar runs 'vnetd' into the host name")
        for block in self.finds("pre.copyable"):
            clipped = d.execute_script(
                "const e = arguments[0]; return e.scrollWidth - e.clientWidth;", block)
            check(clipped <= 0, f"{where}: a command block is cut off by {clipped} px")
        unlabelled = d.execute_script("""
            const out = [];
            for (const e of document.querySelectorAll('input, select, textarea')) {
              if (e.type === 'hidden' || e.classList.contains('menu-toggle') && document.querySelector('label[for=menu-toggle]')) continue;
              const byFor = e.id && document.querySelector('label[for="' + CSS.escape(e.id) + '"]');
              if (!(byFor || e.closest('label') || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby'))) out.push(e.name || e.id);
            }
            return out;""")
        check(not unlabelled, f"{where}: form controls without a label: {unlabelled}")
        check("Internal Server Error" not in self.text(), f"{where}: a 500 page")

    def notice(self, expected, where):
        notices = " ".join(e.text for e in self.finds(".notice.ok"))
        check(expected in notices, f"{self.tag} {where}: the notice should say “{expected}”, it says “{notices}”")

    def run(self, suffix):
        net_a, net_b, vm = f"Lab A {suffix}", f"Lab B {suffix}", f"web-{suffix}"
        self.go("/")
        self.shot("status")
        if self.width <= 400:
            self.find("label.menu-button").click()
            check(self.find("nav.sidebar .menu").is_displayed(), f"{self.tag}: the Menu button does not open the menu")

        # Create two networks.
        created = []
        for name in (net_a, net_b):
            self.go("/networks/new")
            self.find("#name").send_keys(name)
            self.submit()
            self.notice(f"network “{name}”", "after Create network")
            created.append(self.driver.current_url.split("/networks/")[1].split("?")[0])
        network_a, network_b = created
        self.go("/networks")
        names = [a.text for a in self.finds("table.grid td[data-label=Name] a")]
        check(net_a in names and net_b in names, f"{self.tag}: View All does not list both networks: {names}")
        self.shot("networks")

        # DHCP on for network A.
        self.go(f"/networks/{network_a}/dhcp")
        box = self.finds("input[name=enabled]")
        if check(bool(box), f"{self.tag}: the DHCP page has no enable box"):
            if not box[0].is_selected():
                box[0].click()
            self.submit("button[name=action][value=save]")
            check("DHCP" in self.text(), f"{self.tag}: the DHCP save did not come back to a page about DHCP")

        # A VM with its first adapter on A: the command is there on the first page after Create.
        self.go("/vms/new")
        self.find("#name").send_keys(vm)
        Select(self.find("#network")).select_by_visible_text(net_a)
        self.submit()
        self.notice(f"Created virtual machine “{vm}”", "after Create VM")
        check(bool(self.finds("#command-qemu")), f"{self.tag}: no qemu-system-x86_64 command on the first page after Create")
        check("Starting" not in self.text(), f"{self.tag}: the VM page says Starting… right after Create")
        vm_page = self.driver.current_url.split("?")[0]
        self.shot("vm")

        # Adapters: change the backend of adapter 1 and add one: the pending edit is kept.
        self.go(vm_page.replace(self.url, "") + "/nics")
        Select(self.find("#nic-1-backend")).select_by_value("dgram")
        self.submit("button[name=action][value=add]")
        self.notice("Added Virtual network adapter 2", "after Add network adapter")
        self.notice("now attaches as a QEMU datagram socket", "after Add network adapter (the pending edit)")
        self.shot("nics")

        # Move adapter 1 to B and adapter 2 to A.
        Select(self.find("#nic-1-network")).select_by_visible_text(net_b)
        Select(self.find("#nic-2-network")).select_by_visible_text(net_a)
        self.submit("button[name=action][value=save]")
        self.notice(f"moved from “{net_a}” to “{net_b}”", "after the move")
        check(len(self.finds("#command-qemu")) == 1, f"{self.tag}: one qemu command for the VM after the move")
        command = self.find("#command-qemu").text if self.finds("#command-qemu") else ""
        check(command.count("-netdev") == 2, f"{self.tag}: the qemu command should name both adapters: {command!r}")
        check(" \\\n" in command, f"{self.tag}: the qemu command is not one option per line")

        # Remove adapter 2 with an edit pending on adapter 1: Remove is a button of the same form, its
        # confirmation's Back returns to the form as typed, and confirming saves the edit, then removes.
        self.go(vm_page.replace(self.url, "") + "/nics")
        check(not self.finds("a[href*='?remove=']"), f"{self.tag}: a Remove link leaves the adapters page")
        Select(self.find("#nic-1-backend")).select_by_value("socket")
        self.submit("button[name=action][value=remove-2]")
        check("Remove Virtual network adapter 2" in self.text(), f"{self.tag}: Remove adapter 2 did not ask first")
        self.submit("button[name=action][value=edit]")
        kept = Select(self.find("#nic-1-backend")).first_selected_option.get_attribute("value")
        check(kept == "socket", f"{self.tag}: Back from Remove lost the pending edit (adapter 1 attaches as {kept})")
        self.submit("button[name=action][value=remove-2]")
        self.submit("button[name=action][value=remove]")
        self.notice("Removed Virtual network adapter 2", "after Remove adapter")
        self.notice("now attaches as a QEMU stream socket", "after Remove adapter (the pending edit)")
        check(not self.finds("#nic-2-network"), f"{self.tag}: adapter 2 is still on the page after Remove")

        self.go(f"/networks/{network_a}")
        self.shot("network")
        check("no traffic in the last 60 s" in self.text() or "Received from ports" in self.text(), f"{self.tag}: the chart has no caption")
        self.go("/events?type=nic")
        check(net_b in self.text(), f"{self.tag}: the Event Viewer filtered by adapters does not show the move")
        self.shot("events")

        # Remove the VM and the networks.
        self.go(vm_page.replace(self.url, "") + "/remove")
        self.submit("main form button[type=submit]")
        self.notice(f"Removed virtual machine “{vm}”", "after Remove VM")
        for network, name in ((network_a, net_a), (network_b, net_b)):
            self.go(f"/networks/{network}/remove")
            self.submit("main form button[type=submit]")
            self.notice(f"Removed network “{name}”", "after Remove network")


def sign_in(driver, url, password):
    driver.get(url.rstrip("/") + "/login")
    driver.find_element(By.ID, "name").send_keys("admin")
    driver.find_element(By.ID, "password").send_keys(password)
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    # The next page must have loaded (and the session cookie been set) before the walk goes on:
    # a page asked for sooner is sent back to the sign-in page.
    WebDriverWait(driver, 30).until(lambda _: gone(old))
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
    check(bool(driver.find_elements(By.CSS_SELECTOR, "header .account")), f"signing in failed: {driver.current_url}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--password-file", required=True)
    parser.add_argument("--screenshots")
    arguments = parser.parse_args()
    password = open(arguments.password_file).read().strip()
    if arguments.screenshots:
        os.makedirs(arguments.screenshots, exist_ok=True)
    for width in (1366, 390):
        driver = browser(width)
        try:
            sign_in(driver, arguments.url, password)
            Walk(driver, arguments.url, width, arguments.screenshots).run(f"{width}-{int(time.time()) % 100000}")
        except Exception as error:  # a missing element or a page that never came: report, do not hide
            import traceback
            FAILURES.append(f"{width}px: the walk stopped: {type(error).__name__}: {error}".splitlines()[0])
            FAILURES.append("  at " + " < ".join(f"line {frame.lineno}" for frame in reversed(traceback.extract_tb(error.__traceback__))))
        finally:
            driver.quit()
    for failure in FAILURES:
        print(failure)
    print(f"browser walk: {len(FAILURES)} failed check(s)")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
