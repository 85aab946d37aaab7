using System.Globalization;
using System.Text.Json;
using BuildGrid.Builds.V1;
using BuildGrid.Identity.V1;
using BuildGrid.Registry.V1;
using BuildGrid.Tests.Infrastructure;
using Grpc.Core;
using OpenQA.Selenium;

namespace BuildGrid.Tests.Console;

/// <summary>
/// The console in a real browser (Debian's headless chromium through chromedriver) against a standalone host with an
/// admin password and real buildah: what a user clicks, checked as the user would see it. The browser's console must
/// stay free of errors (a CSP refusal of an inline script or style shows there); a failing test keeps a screenshot.
/// </summary>
public sealed class ConsoleBrowserTests(GuardedConsoleHost fixture, ITestOutputHelper output) : IClassFixture<GuardedConsoleHost>
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    Uri Url(string path) => new(fixture.Host.RestUrl, path);

    void Run(Chromium browser, string name, Action test)
    {
        try
        {
            test();
            Assert.Empty(browser.ConsoleErrors());
        }
        catch
        {
            output.WriteLine($"screenshot: {browser.SaveScreenshot(name)}");
            output.WriteLine($"page: {browser.Driver.Url}\n{browser.Driver.PageSource}");
            throw;
        }
    }

    static void SignIn(Chromium browser)
    {
        browser.Find("#user").SendKeys("admin");
        browser.Find("#password").SendKeys(GuardedConsoleHost.Password);
        browser.Find("form.card button[type=submit]").Click();
    }

    static void Fill(IWebElement field, string text)
    {
        field.Clear();
        field.SendKeys(text);
    }

    [Fact]
    public async Task Sign_in_create_a_project_with_plugins_build_it_watch_the_log_find_copy_and_delete_the_tag_and_make_a_robot()
    {
        Tools.Require("buildah", "buildah");
        var skopeo = Tools.Require("skopeo", "skopeo");
        using var browser = Chromium.Start();
        var project = ImageMarketApi.UniqueName("web");
        var cluster = ImageMarketApi.UniqueName("team").Replace('-', '_');
        var repository = $"{cluster}/{project}";
        var registry = new BuildGrid.Registry.V1.Registry.RegistryClient(fixture.Channel);
        string robotSecret = "", robotName = "";

        Run(browser, "console-journey", () =>
        {
            // Sign in, and land on the page first asked for.
            browser.Go(Url("/console/projects"));
            Assert.Contains("/console/signin", browser.Driver.Url);
            Assert.Equal("Sign in", browser.Find("h1").Text);
            SignIn(browser);
            browser.Until(d => d.Url.EndsWith("/console/projects", StringComparison.Ordinal), "back on the projects page");
            Assert.Contains("admin (admin)", browser.Find(".who").Text);

            // A project with plugin steps.
            browser.Find("a[href='/console/projects/new']").Click();
            Fill(browser.Find("#name"), project);
            Fill(browser.Find("#cluster"), cluster);
            Fill(browser.Find("#plugins"), """
                [{"plugin": "base-image", "parameters": {"image": "scratch"}},
                 {"plugin": "label", "parameters": {"labels": {"team": "console"}}},
                 {"plugin": "env", "parameters": {"variables": {"MODE": "prod"}}}]
                """);
            browser.Find("form.card button[type=submit]").Click();
            browser.Until(d => d.FindElement(By.CssSelector("h1")).Text == $"Project {project}", "the project page");
            Assert.Equal($"Project {project} created.", browser.Find(".notice").Text);
            Assert.Equal(["base-image", "label", "env"], browser.FindAll("ol.steps li > code:first-child").Select(e => e.Text));
            Assert.Contains("LABEL \"team\"=\"console\"", browser.Find("pre.code").Text);

            // Build it and follow the log to success, without reloading.
            Fill(browser.Find("#tag"), "1.0");
            browser.Find("form[action*='handler=Build'] button").Click();
            browser.Until(d => d.Url.Contains("/console/runs/", StringComparison.Ordinal), "the run page");
            var runUrl = browser.Driver.Url;
            browser.Until(d => d.FindElement(By.Id("run-state")).Text == "succeeded", "the run to succeed", 240);
            Assert.Equal(runUrl, browser.Driver.Url);
            browser.Until(d => d.FindElement(By.Id("log")).Text.Contains("[buildgrid] succeeded", StringComparison.Ordinal), "the log's last line");
            Assert.Contains("The run has finished (succeeded).", browser.Find("#log-status").Text);

            // The image on the registry pages: namespace, repository, tag; copy its pull command.
            browser.Go(Url("/console/registry"));
            Fill(browser.Find("#q"), cluster);
            browser.Find("form.filter button").Click();
            browser.Find($"a[href='/console/registry/{cluster}']").Click();
            browser.Until(d => d.FindElement(By.CssSelector("h1")).Text == $"Namespace {cluster}", "the namespace page");
            browser.Driver.FindElement(By.LinkText(repository)).Click();
            browser.Until(d => d.FindElement(By.CssSelector("h1")).Text == $"Repository {repository}", "the repository page");
            var row = browser.Find("tr[data-tag='1.0']");
            var command = row.FindElement(By.CssSelector("input.pull")).GetAttribute("value") ?? "";
            Assert.Equal($"podman pull --tls-verify=false {fixture.Host.RestUrl.Authority}/{repository}:1.0", command);
            // The reference in the command is the image that was built: skopeo reads the same digest the page shows.
            var inspect = JsonDocument.Parse(Tools.RunOkAsync(skopeo, fixture.Host.DataDir, "inspect", "--tls-verify=false",
                $"--creds=admin:{GuardedConsoleHost.Password}", "docker://" + command.Split(' ')[^1]).GetAwaiter().GetResult()).RootElement;
            Assert.Equal(inspect.GetProperty("Digest").GetString(), row.FindElement(By.CssSelector("a[title^='sha256:']")).GetAttribute("title"));
            Assert.Equal("console", inspect.GetProperty("Labels").GetProperty("team").GetString());
            row.FindElement(By.CssSelector("button.copy-button")).Click();
            browser.Until(d => d.FindElement(By.CssSelector("tr[data-tag='1.0'] .copied")).Text.Length > 0, "the copy to be confirmed");
            Assert.Equal("Copied", browser.Find("tr[data-tag='1.0'] .copied").Text);

            // The manifest's layers.
            row.FindElement(By.CssSelector("a[href*='/console/registry/manifest']")).Click();
            browser.Until(d => d.FindElement(By.CssSelector("h1")).Text == $"Manifest of {repository}", "the manifest page");
            Assert.Contains("application/vnd.oci.image.manifest.v1+json", browser.Find("dl.facts").Text);
            browser.Driver.Navigate().Back();

            // Delete the tag (after the confirmation).
            browser.Until(d => d.FindElement(By.CssSelector("h1")).Text == $"Repository {repository}", "back on the repository page");
            browser.Find("tr[data-tag='1.0'] button.danger").Click();
            browser.Driver.SwitchTo().Alert().Accept();
            browser.Until(d => d.FindElement(By.CssSelector(".notice")).Text == $"Tag 1.0 deleted from {repository}.", "the tag to be deleted");
            Assert.Empty(browser.FindAll("tr[data-tag='1.0']"));

            // A robot: its token is shown once.
            browser.Go(Url($"/console/identity?ns={cluster}"));
            robotName = "pusher";
            Fill(browser.Find("#new-robot-name"), robotName);
            Fill(browser.Find("#new-robot-description"), "pushes from CI");
            browser.Find("form[action*='handler=CreateRobot'] button").Click();
            browser.Until(d => d.FindElement(By.Id("secret-heading")).Text == $"Robot {cluster}+{robotName} created", "the robot's token");
            robotSecret = browser.Find("#secret-value").GetAttribute("value") ?? "";
            browser.Go(Url($"/console/identity?ns={cluster}"));
            Assert.Empty(browser.FindAll("#secret-value"));
            Assert.Contains($"{cluster}+{robotName}", browser.Find("section[aria-labelledby='robots-heading'] table").Text);
        });

        // What the pages showed is what the services hold.
        Assert.Empty((await registry.ListTagsAsync(new ListTagsRequest { Repository = repository }, GuardedConsoleHost.Admin, cancellationToken: Ct)).Tags);
        var identity = new BuildGrid.Identity.V1.Identity.IdentityClient(fixture.Channel);
        var robot = await identity.GetCallerAsync(new GetCallerRequest(), new Metadata { { "authorization", "Bearer " + robotSecret } }, cancellationToken: Ct);
        Assert.Equal($"{cluster}+{robotName}", robot.Name);
    }

    [Fact]
    public async Task A_running_builds_new_log_lines_appear_within_a_second_without_reload()
    {
        using var browser = Chromium.Start();
        var runs = new BuildRuns.BuildRunsClient(fixture.Channel);
        var run = await runs.StartRunAsync(new StartRunRequest
        {
            // The second line waits for the test's word (a file in the workspace), so it is written while the page is open.
            Spec = Runs.Script("echo first-line\nwhile [ ! -f \"$WORKSPACE/go\" ]; do sleep 0.05; done\necho second-line; sleep 2; echo third-line", 120),
        }, GuardedConsoleHost.Admin, cancellationToken: Ct);
        var latencies = new List<double>();
        Run(browser, "console-live-log", () =>
        {
            browser.Go(Url($"/console/runs/{run.Id}"));
            SignIn(browser);
            browser.Until(d => d.Url.EndsWith($"/console/runs/{run.Id}", StringComparison.Ordinal), "the run page");
            browser.Until(d => d.FindElement(By.Id("log")).Text.Contains("first-line", StringComparison.Ordinal), "'first-line' in the log", 60);
            // The page itself notes when each line enters the log (the browser's clock is the machine's, as the worker's
            // line times are), so the figure is the product's latency, not the WebDriver polling's under a loaded machine.
            var script = (IJavaScriptExecutor)browser.Driver;
            script.ExecuteScript("""
                var log = document.getElementById('log');
                window.seenAt = {};
                var note = function () {
                  ['second-line', 'third-line'].forEach(function (k) {
                    if (!(k in window.seenAt) && log.textContent.indexOf(k) >= 0) window.seenAt[k] = Date.now();
                  });
                };
                window.seenBefore = log.textContent;
                new MutationObserver(note).observe(log, { childList: true, subtree: true, characterData: true });
                """);
            Assert.DoesNotContain("second-line", (string?)script.ExecuteScript("return window.seenBefore;") ?? "");
            File.WriteAllText(Path.Combine(fixture.Host.DataDir, "builds", "workspaces", $"{run.Id}-1", "go"), "");
            foreach (var text in new[] { "second-line", "third-line" })
            {
                browser.Until(d => d.FindElement(By.Id("log")).Text.Contains(text, StringComparison.Ordinal), $"'{text}' in the log", 60);
                // Null would mean the observer never saw the line arrive: a failure, not a 1970 timestamp.
                var seenAt = script.ExecuteScript($"return window.seenAt['{text}'];") ?? throw new Xunit.Sdk.XunitException($"the page never noted '{text}'");
                var seen = DateTimeOffset.FromUnixTimeMilliseconds(Convert.ToInt64(seenAt, CultureInfo.InvariantCulture)).UtcDateTime;
                var log = runs.ReadRunLog(new ReadRunLogRequest { Id = run.Id, MaxLines = 1000 }, GuardedConsoleHost.Admin);
                var written = log.Lines.Single(l => l.Text.Contains(text, StringComparison.Ordinal)).Time.ToDateTime();
                latencies.Add((seen - written).TotalMilliseconds);
            }
            browser.Until(d => d.FindElement(By.Id("run-state")).Text == "succeeded", "the run to succeed", 60);
        });
        output.WriteLine($"line written → shown in the browser: {string.Join(", ", latencies.Select(l => $"{l:0} ms"))}");
        Assert.All(latencies, l => Assert.True(l < 1000, $"a line took {l:0} ms to appear"));
    }

    [Fact]
    public async Task A_log_of_100000_lines_streams_to_its_end_keeping_the_page_small_and_the_stored_log_pages_through_it()
    {
        using var browser = Chromium.Start();
        var runs = new BuildRuns.BuildRunsClient(fixture.Channel);
        // 99,900 lines of output and BuildGrid's own: just under the Builds service's cap of 100,000 lines a run.
        var run = await runs.StartRunAsync(new StartRunRequest { Spec = Runs.Script("seq 1 99900", 300) }, GuardedConsoleHost.Admin, cancellationToken: Ct);
        Assert.Equal(RunState.Succeeded, (await Runs.FinishedAsync(runs, run.Id, 300, GuardedConsoleHost.Admin)).State);
        Run(browser, "console-long-log", () =>
        {
            browser.Go(Url($"/console/runs/{run.Id}"));
            SignIn(browser);
            browser.Until(d => d.FindElement(By.Id("log-status")).Text.StartsWith("The run has finished", StringComparison.Ordinal), "the whole log", 120);
            var count = Convert.ToInt64(browser.Driver.ExecuteScript("return document.getElementById('log').childElementCount;"), CultureInfo.InvariantCulture);
            Assert.Equal(5000, count);
            var last = (string)browser.Driver.ExecuteScript("return document.querySelector('#log .line:last-child').textContent;")!;
            Assert.Contains("[buildgrid] succeeded", last);
            Assert.Contains("\n99900\n", (string)browser.Driver.ExecuteScript("return document.getElementById('log').textContent;")!);
            // The page still answers: a click on the log-pages link goes at once.
            browser.Driver.FindElement(By.LinkText("The stored log, page by page")).Click();
            browser.Until(d => d.FindElement(By.CssSelector("h1")).Text == $"Log of run {run.Id}", "the stored log");
            Assert.Equal(1000, browser.FindAll("pre.log .line").Count);
            browser.Go(Url($"/console/runs/{run.Id}/log?from=99000"));
            Assert.Contains("\n99900\n", browser.Find("pre.log").Text + "\n");
            Assert.Contains("(the log is complete)", browser.Find("p.count").Text);
        });
    }

    [Fact]
    public async Task Markup_renders_as_text_and_pages_fit_a_narrow_screen()
    {
        var registry = new BuildGrid.Registry.V1.Registry.RegistryClient(fixture.Channel);
        var ns = ImageMarketApi.UniqueName("narrow").Replace('-', '_');
        var repository = $"{ns}/app";
        await registry.CreateRepositoryAsync(new CreateRepositoryRequest { Name = repository, Description = "<script>window.owned = 1</script><img src=x onerror=\"window.owned = 2\">" },
            GuardedConsoleHost.Admin, cancellationToken: Ct);
        using var browser = Chromium.Start(width: 360, height: 800);
        Run(browser, "console-narrow", () =>
        {
            browser.Go(Url("/console/"));
            // The browser's console is really read: what a page logs as an error is seen (and then taken).
            browser.Driver.ExecuteScript("console.error('console check');");
            Assert.Contains(browser.ConsoleErrors(), e => e.Contains("console check", StringComparison.Ordinal));
            SignIn(browser);
            browser.Until(d => d.FindElement(By.CssSelector("h1")).Text == "Dashboard", "the dashboard");
            foreach (var path in new[] { "/console/", $"/console/registry/repository?name={Uri.EscapeDataString(repository)}", "/console/projects", "/console/identity" })
            {
                browser.Go(Url(path));
                var overflow = Convert.ToInt64(browser.Driver.ExecuteScript("return document.documentElement.scrollWidth - document.documentElement.clientWidth;"), CultureInfo.InvariantCulture);
                Assert.True(overflow <= 0, $"{path} is {overflow}px wider than a 360px screen");
            }
            browser.Go(Url($"/console/registry/repository?name={Uri.EscapeDataString(repository)}"));
            Assert.Contains("<script>window.owned = 1</script>", browser.Find("dl.facts").Text);
            Assert.Null(browser.Driver.ExecuteScript("return window.owned === undefined ? null : window.owned;"));
            // Keyboard: the first Tab reaches the skip link, which moves focus to the content.
            browser.Find("body").SendKeys(Keys.Tab);
            Assert.Equal("Skip to content", browser.Driver.SwitchTo().ActiveElement().Text);
        });
        await Task.CompletedTask;
    }
}
