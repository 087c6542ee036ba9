package dev.quire.loadtest.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Assumptions;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.StaleElementReferenceException;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.TimeoutException;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.logging.LogEntry;
import org.openqa.selenium.logging.LogType;
import org.openqa.selenium.logging.LoggingPreferences;
import org.openqa.selenium.support.ui.WebDriverWait;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.logging.Level;

/**
 * Headless Chromium driven through the system's chromedriver (Debian's {@code chromium} and
 * {@code chromium-driver}, which {@code .ci/run} installs). Both paths are given to Selenium, so
 * Selenium Manager never runs and nothing is downloaded. Screenshots go to
 * {@code load-tests/target/console-screenshots/}.
 */
final class Browser implements AutoCloseable {
    static final Path DRIVER = Path.of(System.getenv().getOrDefault("QUIRE_CHROMEDRIVER", "/usr/bin/chromedriver"));
    static final Path CHROMIUM = Path.of(System.getenv().getOrDefault("QUIRE_CHROMIUM", "/usr/bin/chromium"));
    static final Path SCREENSHOTS = QuireProcess.ROOT.resolve(Path.of("load-tests", "target", "console-screenshots"));
    static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    final ChromeDriver driver;
    private final List<String> problems = new ArrayList<>();
    private boolean networkChanged;
    private final Path profile;
    private final ChromeDriverService service;

    /**
     * Skips the calling test class when the browser is missing on a developer's machine; with
     * {@code CI=true} a missing browser is a failure, so CI never passes without running these tests.
     */
    static void assumeInstalled(Class<?> tests) {
        boolean installed = Files.isExecutable(DRIVER) && Files.isExecutable(CHROMIUM);
        if (!installed && "true".equalsIgnoreCase(System.getenv("CI"))) {
            throw new AssertionError("CI=true but " + CHROMIUM + " or " + DRIVER + " is missing: .ci/run installs "
                    + "them with 'apt-get install -y chromium chromium-driver'");
        }
        if (!installed) {
            String reason = tests.getSimpleName() + " skipped: no " + CHROMIUM + " or " + DRIVER
                    + " (apt-get install chromium chromium-driver)";
            System.out.println(reason);
            Assumptions.abort(reason);
        }
    }

    Browser(int width, int height) {
        try {
            profile = Files.createTempDirectory("quire-console-chromium");
            Files.createDirectories(SCREENSHOTS);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        service = new ChromeDriverService.Builder().usingDriverExecutable(DRIVER.toFile()).usingAnyFreePort()
                .withLogFile(SCREENSHOTS.resolve("chromedriver.log").toFile()).build();
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--force-device-scale-factor=1", "--lang=en-US",
                "--window-size=" + width + "," + height, "--user-data-dir=" + profile);
        LoggingPreferences logs = new LoggingPreferences();
        logs.enable(LogType.BROWSER, Level.ALL);
        options.setCapability("goog:loggingPrefs", logs);
        driver = new ChromeDriver(service, options);
        driver.manage().timeouts().scriptTimeout(Duration.ofSeconds(30));
    }

    WebDriver.Navigation navigate() {
        return driver.navigate();
    }

    /**
     * Opens the console and waits until its scripts run. Chromium fails requests in flight with
     * ERR_NETWORK_CHANGED when the machine's network interfaces change (containers starting
     * elsewhere on a shared machine); a page whose modules failed to load that way is loaded again.
     */
    void open(String url) {
        for (int attempt = 1; ; attempt++) {
            driver.get(url);
            try {
                new WebDriverWait(driver, Duration.ofSeconds(20), Duration.ofMillis(50))
                        .until(d -> "running".equals(script("return document.body.dataset.app")));
                return;
            } catch (TimeoutException e) {
                List<String> problems = consoleProblems();
                if (attempt == 3 || !networkChanged) {
                    throw new AssertionError("the console's scripts did not start: " + problems, e);
                }
                System.out.println("reloading " + url + " after a network change: " + problems);
                networkChanged = false;
            }
        }
    }

    /** Whether the browser reported ERR_NETWORK_CHANGED since the flag was last cleared. */
    boolean networkChanged() {
        drain();
        boolean was = networkChanged;
        networkChanged = false;
        return was;
    }

    WebElement find(String css) {
        return driver.findElement(By.cssSelector(css));
    }

    List<WebElement> all(String css) {
        return driver.findElements(By.cssSelector(css));
    }

    Object script(String js, Object... args) {
        return ((JavascriptExecutor) driver).executeScript(js, args);
    }

    /** The element's text exactly as the document holds it (Selenium's getText() normalises whitespace). */
    String text(String css) {
        return (String) script("const e = document.querySelector(arguments[0]); return e ? e.textContent : null;", css);
    }

    /** Waits for the condition; on time-out keeps a screenshot and says what the page showed. */
    <T> T await(String what, long seconds, Function<WebDriver, T> condition) {
        try {
            return new WebDriverWait(driver, Duration.ofSeconds(seconds), Duration.ofMillis(50))
                    .ignoring(StaleElementReferenceException.class).until(condition);
        } catch (TimeoutException e) {
            Path shot = screenshot("failed-" + what.replaceAll("[^A-Za-z0-9]+", "-"));
            String page = String.valueOf(script("return document.body.innerText"));
            throw new AssertionError("not within " + seconds + " s: " + what + " (screenshot " + shot + "); the page "
                    + "read:\n" + page.substring(0, Math.min(page.length(), 3000)) + "\nconsole: "
                    + consoleProblems(), e);
        }
    }

    /** The browser console's entries since the last call. */
    List<LogEntry> consoleLog() {
        return new ArrayList<>(driver.manage().logs().get(LogType.BROWSER).getAll());
    }

    /**
     * Console entries at warning level or above since the last call, as text. Requests the browser
     * failed with ERR_NETWORK_CHANGED are the machine's doing, not the page's: they are noted (see
     * {@link #networkChanged()}) and printed, not returned.
     */
    List<String> consoleProblems() {
        drain();
        List<String> out = new ArrayList<>(problems);
        problems.clear();
        return out;
    }

    private void drain() {
        for (LogEntry e : consoleLog()) {
            if (e.getLevel().intValue() >= Level.WARNING.intValue()) {
                if (e.getMessage().contains("ERR_NETWORK_CHANGED")) {
                    networkChanged = true;
                    System.out.println("browser: " + e.getMessage());
                } else {
                    problems.add(e.getLevel() + " " + e.getMessage());
                }
            }
        }
    }

    Path screenshot(String name) {
        try {
            Path file = SCREENSHOTS.resolve(name + ".png");
            Files.write(file, ((TakesScreenshot) driver).getScreenshotAs(OutputType.BYTES));
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        try {
            driver.quit();
        } finally {
            service.stop();
            deleteQuietly(profile.toFile());
        }
    }

    private static void deleteQuietly(File f) {
        File[] children = f.listFiles();
        if (children != null) {
            for (File c : children) {
                deleteQuietly(c);
            }
        }
        f.delete();
    }

    // ---- plain HTTP against the server under test ----

    static HttpResponse<String> get(String url, String key) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30)).GET();
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static JsonNode getJson(String url, String key) throws IOException, InterruptedException {
        HttpResponse<String> r = get(url, key);
        if (r.statusCode() != 200) {
            throw new AssertionError("GET " + url + ": " + r.statusCode() + " " + r.body());
        }
        return JSON.readTree(r.body());
    }

    static JsonNode postJson(String url, String key, Object body) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)));
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        HttpResponse<String> r = HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) {
            throw new AssertionError("POST " + url + ": " + r.statusCode() + " " + r.body());
        }
        return JSON.readTree(r.body());
    }
}
