using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;
using LogLevel = OpenQA.Selenium.LogLevel;

namespace BuildGrid.Tests.Infrastructure;

/// <summary>
/// Debian's headless <c>chromium</c> driven through its <c>chromedriver</c> (packages chromium, chromium-driver) by
/// Selenium: no browser is downloaded, and the browser reaches only the loopback addresses the test gives it. The
/// browser's console is read back (<see cref="ConsoleErrors"/>); <see cref="SaveScreenshot"/> keeps what the page
/// looked like under <c>TestResults/screenshots</c> beside the test assembly.
/// </summary>
public sealed class Chromium : IDisposable
{
    Chromium(ChromeDriver driver) => Driver = driver;

    public ChromeDriver Driver { get; }

    public static Chromium Start(int width = 1280, int height = 900)
    {
        var browser = Tools.Require("chromium", "chromium");
        var driverPath = Tools.Require("chromedriver", "chromium-driver");
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(driverPath)!, Path.GetFileName(driverPath));
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        var options = new ChromeOptions { BinaryLocation = browser };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", $"--window-size={width},{height}",
            "--no-first-run", "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-extensions", "--metrics-recording-only", "--password-store=basic");
        options.SetLoggingPreference(LogType.Browser, LogLevel.All);
        return new Chromium(new ChromeDriver(service, options, TimeSpan.FromSeconds(60)));
    }

    public void Go(Uri url) => Driver.Navigate().GoToUrl(url);

    public IWebElement Find(string css) => Driver.FindElement(By.CssSelector(css));

    public IReadOnlyList<IWebElement> FindAll(string css) => Driver.FindElements(By.CssSelector(css));

    /// <summary>Waits until <paramref name="condition"/> holds (polling every 50 ms), failing with <paramref name="what"/>.</summary>
    public T Until<T>(Func<IWebDriver, T> condition, string what, int timeoutSeconds = 10)
    {
        var wait = new WebDriverWait(Driver, TimeSpan.FromSeconds(timeoutSeconds)) { PollingInterval = TimeSpan.FromMilliseconds(50), Message = what };
        wait.IgnoreExceptionTypes(typeof(NoSuchElementException), typeof(StaleElementReferenceException));
        return wait.Until(condition);
    }

    /// <summary>Errors and warnings the page's console showed since the last call (CSP violations, script errors, failed loads).</summary>
    public IReadOnlyList<string> ConsoleErrors() =>
        Driver.Manage().Logs.GetLog(LogType.Browser).Where(e => e.Level >= LogLevel.Warning).Select(e => $"{e.Level}: {e.Message}").ToList();

    public string SaveScreenshot(string name)
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "TestResults", "screenshots");
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, $"{name}-{DateTime.UtcNow:yyyyMMdd-HHmmss}.png");
        Driver.GetScreenshot().SaveAsFile(path);
        return path;
    }

    public void Dispose()
    {
        Driver.Quit();
        Driver.Dispose();
    }
}
