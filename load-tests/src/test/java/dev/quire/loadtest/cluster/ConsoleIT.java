package dev.quire.loadtest.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.openqa.selenium.By;
import org.openqa.selenium.Dimension;
import org.openqa.selenium.Keys;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.interactions.Actions;

import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The web console in a real browser (headless Chromium) against a real {@code ./quire serve}
 * started through the launcher, plus one started with an API key.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ConsoleIT {
    static final String KEY = "console-it-key-" + System.nanoTime();
    static final String MODEL = "stories260K";
    /** Markup a careless page would turn into elements. */
    static final String PAYLOAD = "<img src=x onerror=\"window.__quirePwned=1\"><b>bold</b>"
            + "<script>window.__quirePwned=2</script>";

    QuireProcess serve;
    QuireProcess keyed;
    int grpcPort;
    String base;
    String keyedBase;
    Browser browser;

    @BeforeAll
    void start() throws Exception {
        Browser.assumeInstalled(ConsoleIT.class);
        grpcPort = QuireProcess.freePort();
        int http = QuireProcess.freePort();
        int keyedHttp = QuireProcess.freePort();
        serve = QuireProcess.start("console-serve", Map.of(), "serve", "--host", "127.0.0.1", "--grpc-port",
                "" + grpcPort, "--http-port", "" + http, "--kv-cache-bytes", "64m", "--cluster-name",
                "console-it-" + KEY);
        keyed = QuireProcess.start("console-serve-keyed", Map.of(), "serve", "--host", "127.0.0.1", "--grpc-port",
                "" + QuireProcess.freePort(), "--http-port", "" + keyedHttp, "--kv-cache-bytes", "64m",
                "--cluster-name", "console-it-keyed-" + KEY, "--api-key", KEY);
        base = "http://127.0.0.1:" + http;
        keyedBase = "http://127.0.0.1:" + keyedHttp;
        serve.awaitLog("Quire is serving", 180);
        keyed.awaitLog("Quire is serving", 180);
        browser = new Browser(1280, 860);
    }

    @AfterAll
    void stop() throws Exception {
        if (browser != null) {
            browser.close();
        }
        for (QuireProcess p : new QuireProcess[]{serve, keyed}) {
            if (p != null) {
                p.close();
            }
        }
    }

    // ---- page helpers ----

    void openConsole(String url) {
        browser.open(url);
        browser.await("the console to connect", 30, d -> browser.text("#server-status").endsWith("ready"));
    }

    void field(String name, String value) {
        WebElement input = browser.find("#p-" + name);
        input.clear();
        if (!value.isEmpty()) {
            input.sendKeys(value);
        }
    }

    void checkbox(String css, boolean on) {
        WebElement box = browser.find(css);
        if (box.isSelected() != on) {
            box.click();
        }
    }

    /** Leaves only the given sampling fields set. */
    void sampling(Map<String, String> values) {
        browser.find("#reset-sampling").click();
        values.forEach(this::field);
    }

    void newChat() {
        browser.find("#new-chat").click();
        browser.await("an empty transcript", 10, d -> browser.all("#transcript .msg").isEmpty());
    }

    int answers() {
        return browser.all("#transcript .msg-assistant .answer-stats").size();
    }

    /**
     * Types a message, sends it with Enter and waits for the whole answer. An answer cut off because
     * the browser saw the machine's network change (see {@link Browser#open}) is asked for again.
     */
    String chat(String message) {
        int before = answers();
        browser.find("#prompt").sendKeys(message, Keys.ENTER);
        browser.await("the answer to finish", 60, d -> answers() == before + 1);
        for (int retry = 0; retry < 2 && !browser.all("#transcript .msg:last-child .msg-error").isEmpty()
                && browser.networkChanged(); retry++) {
            browser.find("#transcript .msg:last-child .msg-actions button:last-child").click();
            browser.await("the answer asked for again", 60, d -> browser.all("#transcript .msg.streaming").isEmpty()
                    && answers() == before + 1);
        }
        List<WebElement> bodies = browser.all("#transcript .msg-assistant .msg-body");
        return (String) browser.script("return arguments[0].textContent;", bodies.get(bodies.size() - 1));
    }

    String lastStats(String attribute) {
        List<WebElement> stats = browser.all("#transcript .answer-stats");
        return stats.get(stats.size() - 1).getAttribute("data-" + attribute);
    }

    JsonNode api(String path, ObjectNode body) throws Exception {
        return Browser.postJson(base + path, null, body);
    }

    static ObjectNode json() {
        return Browser.JSON.createObjectNode();
    }

    static ObjectNode message(String role, String content) {
        return json().put("role", role).put("content", content);
    }

    JsonNode serveWorker() throws Exception {
        return Browser.getJson(base + "/cluster", null).get("workers").get(0);
    }

    // ---- tests ----

    @Test
    @Order(1)
    void thePageLoadsWithoutConsoleErrorsAndListsTheServedModel() throws Exception {
        openConsole(base + "/");
        List<String> options = new ArrayList<>();
        for (WebElement o : browser.all("#model option")) {
            options.add(o.getAttribute("value"));
        }
        assertThat(options).containsExactly(MODEL);
        assertThat(browser.find("#p-temperature").getAttribute("placeholder")).isEqualTo("1");
        assertThat(browser.find("#p-top_k").getAttribute("placeholder")).isEqualTo("off");
        assertThat(browser.script("return document.cookie")).isEqualTo("");
        browser.find("#tab-cluster").click();
        browser.await("the cluster view", 15, d -> browser.all("#workers-table tr[data-worker-id]").size() == 1);
        browser.find("#tab-playground").click();
        assertThat(browser.consoleProblems()).as("browser console").isEmpty();

        HttpResponse<String> page = Browser.get(base + "/", null);
        assertThat(page.headers().firstValue("content-security-policy").orElse(""))
                .startsWith("default-src 'self'").contains("require-trusted-types-for 'script'");
        assertThat(page.headers().firstValue("set-cookie")).isEmpty();
    }

    @Test
    @Order(2)
    void aGreedyChatInThePageEqualsTheApiTurnByTurn() throws Exception {
        newChat();
        sampling(Map.of("temperature", "0", "max_tokens", "40"));
        String first = "Tell me a story about a cat.";
        String answer = chat(first);

        ArrayNode messages = json().putArray("messages").add(message("user", first));
        JsonNode expected = api("/v1/chat/completions", json().put("model", MODEL).put("temperature", 0)
                .put("max_tokens", 40).set("messages", messages));
        String expectedText = expected.get("choices").get(0).get("message").get("content").asText();
        assertThat(answer).isNotBlank().isEqualTo(expectedText);
        assertThat(lastStats("finish")).isEqualTo("length");
        assertThat(lastStats("tokens")).isEqualTo("40");
        String stats = browser.text("#transcript .msg-assistant:last-of-type .answer-stats");
        assertThat(stats).contains("TTFT").contains("tok/s").contains("40 tokens");

        // Shift+Enter is a new line, not a send.
        browser.find("#prompt").sendKeys("one", Keys.chord(Keys.SHIFT, Keys.ENTER), "two");
        assertThat(browser.find("#prompt").getAttribute("value")).isEqualTo("one\ntwo");
        assertThat(browser.all("#transcript .msg-user")).hasSize(1);
        browser.find("#prompt").clear();

        // The second turn carries the whole conversation.
        String second = "What did the cat do next?";
        String answer2 = chat(second);
        messages.add(message("assistant", expectedText)).add(message("user", second));
        JsonNode expected2 = api("/v1/chat/completions", json().put("model", MODEL).put("temperature", 0)
                .put("max_tokens", 40).set("messages", messages));
        assertThat(answer2).isEqualTo(expected2.get("choices").get(0).get("message").get("content").asText());
        // As the README shows it: the two-turn chat with the settings it ran with.
        browser.find("#prompt").click();
        browser.script("document.getElementById('settings').scrollTop = 0;");
        awaitNoToast();
        browser.screenshot("console-playground");
        assertThat(browser.consoleProblems()).isEmpty();
    }

    @Test
    @Order(3)
    void theStopButtonAbortsTheGenerationOnTheServerAndFreesItsKvBlocks() throws Exception {
        newChat();
        // Until the context is full (about 500 tokens, a few seconds here) unless stopped.
        sampling(Map.of("temperature", "0"));
        checkbox("#p-ignore_eos", true);
        long abortedBefore = Browser.getJson(base + "/stats", null).get("totals").get("finish_reasons").get("aborted")
                .asLong();
        browser.find("#prompt").sendKeys("Tell me a very long story.", Keys.ENTER);
        browser.await("tokens streaming in", 30, d -> {
            String t = browser.text("#transcript .msg-assistant.streaming .msg-body");
            return t != null && t.length() > 10;
        });
        browser.find("#stop").click();
        browser.await("the answer marked stopped", 15, d -> answers() == 1);
        assertThat(lastStats("finish")).isEqualTo("stopped");
        assertThat(Integer.parseInt(lastStats("tokens"))).isLessThan(400);

        ClusterClient.await("the server's running count back at 0 and its KV blocks free", 10, () -> {
            try {
                JsonNode w = serveWorker();
                return w.get("running").asInt() == 0 && w.get("kv_blocks_used").asInt() == 0;
            } catch (Exception e) {
                return false;
            }
        });
        ClusterClient.await("the server counted the request aborted", 10, () -> {
            try {
                return Browser.getJson(base + "/stats", null).get("totals").get("finish_reasons").get("aborted")
                        .asLong() == abortedBefore + 1;
            } catch (Exception e) {
                return false;
            }
        });
        assertThat(scrape(base, "quire_num_requests_running")).isZero();
        assertThat(browser.find("#send").isDisplayed()).isTrue();
        checkbox("#p-ignore_eos", false);
    }

    @Test
    @Order(4)
    void completionModeWithProbabilitiesRendersOneElementPerTokenWithAlternatives() throws Exception {
        browser.find("#mode-completion").click();
        sampling(Map.of("temperature", "0", "max_tokens", "24"));
        WebElement prompt = browser.find("#completion-prompt");
        prompt.clear();
        prompt.sendKeys("Once upon a time");
        checkbox("#show-probs", true);
        WebElement top = browser.find("#probs-top");
        top.clear();
        top.sendKeys("3");
        browser.find("#completion-generate").click();
        browser.await("the completion to finish", 60, d -> !browser.all("#completion-stats .answer-stats").isEmpty());

        JsonNode expected = api("/v1/completions", json().put("model", MODEL).put("prompt", "Once upon a time")
                .put("temperature", 0).put("max_tokens", 24).put("logprobs", 3)).get("choices").get(0);
        List<String> tokens = new ArrayList<>();
        expected.get("logprobs").get("tokens").forEach(t -> tokens.add(t.asText().replaceFirst("^bytes:", "")));
        List<WebElement> elements = browser.all("#completion-text .tok");
        assertThat(elements).hasSize(24);
        List<String> shown = new ArrayList<>();
        for (WebElement e : elements) {
            shown.add((String) browser.script("return arguments[0].textContent;", e));
        }
        assertThat(shown).isEqualTo(tokens);
        assertThat(browser.text("#completion-echo")).isEqualTo("Once upon a time");
        assertThat(browser.find("#completion-stats .answer-stats").getAttribute("data-finish")).isEqualTo("length");

        new Actions(browser.driver).moveToElement(elements.get(3)).perform();
        browser.await("the token's details", 5, d -> browser.find("#token-tip").isDisplayed());
        assertThat(browser.all("#token-tip li")).hasSize(expected.get("logprobs").get("top_logprobs").get(3).size());
        assertThat(browser.all("#token-tip li.chosen")).hasSize(1);
        awaitNoToast();
        new Actions(browser.driver).moveToElement(elements.get(3)).perform();
        browser.screenshot("console-tokens");
        new Actions(browser.driver).moveToElement(browser.find("#completion-prompt")).perform();
        assertThat(browser.consoleProblems()).isEmpty();
    }

    @Test
    @Order(5)
    void showCodeGivesTheSameRequestAsCurlPythonAndGrpcurl() throws Exception {
        // Completion mode, still set up by the previous test: greedy, 24 tokens, logprobs 3.
        browser.find("#show-code").click();
        browser.await("the code dialog", 5, d -> browser.find("#code-dialog").isDisplayed());
        String curl = browser.text("#code-text");
        assertThat(curl).startsWith("curl -N " + base + "/v1/completions").doesNotContain("Authorization");
        String streamed = runCurl(curl);
        JsonNode expected = api("/v1/completions", json().put("model", MODEL).put("prompt", "Once upon a time")
                .put("temperature", 0).put("max_tokens", 24)).get("choices").get(0);
        if (streamed != null) {
            assertThat(streamed).isEqualTo(expected.get("text").asText());
        }

        browser.find("#code-dialog [data-lang=python]").click();
        browser.screenshot("console-code");
        String python = browser.text("#code-text");
        assertThat(python).contains("from openai import OpenAI")
                .contains("base_url=\"" + base + "/v1\"")
                .contains("client.completions.create(")
                .contains("prompt=\"Once upon a time\"")
                .contains("max_tokens=24")
                .contains("temperature=0")
                .contains("logprobs=3")
                .contains("stream=True");
        browser.find("#code-dialog [data-lang=grpcurl]").click();
        String grpcurl = browser.text("#code-text");
        assertThat(grpcurl).startsWith("grpcurl -plaintext")
                .contains("\"prompt\": \"Once upon a time\"")
                .contains("\"max_tokens\": 24")
                .endsWith("127.0.0.1:" + grpcPort + " quire.v1.Inference/Generate");
        browser.find("#code-copy").click();
        browser.await("the copy to be confirmed", 5, d -> browser.text("#code-copy").equals("Copied"));
        browser.find("#code-close").click();
        browser.find("#mode-chat").click();
    }

    /** Runs a curl command from the page and returns the text it streamed, or null without curl here. */
    static String runCurl(String command) throws Exception {
        if (!Files.isExecutable(Path.of("/usr/bin/curl"))) {
            return null;
        }
        Process p = new ProcessBuilder("bash", "-c", command).redirectErrorStream(false).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        assertThat(out).contains("data: [DONE]");
        StringBuilder text = new StringBuilder();
        for (String line : out.split("\n")) {
            if (line.startsWith("data: {")) {
                JsonNode chunk = Browser.JSON.readTree(line.substring(6));
                for (JsonNode c : chunk.get("choices")) {
                    text.append(c.path("text").asText(""));
                }
            }
        }
        return text.toString();
    }

    @Test
    @Order(6)
    void userTextAndModelOutputAreRenderedAsTextNeverAsMarkup() throws Exception {
        newChat();
        // A repetition penalty far below 1 makes the model repeat pieces of the prompt (echo-ish output).
        sampling(Map.of("temperature", "0", "max_tokens", "48", "repetition_penalty", "0.01"));
        String answer = chat(PAYLOAD);
        JsonNode expected = api("/v1/chat/completions", json().put("model", MODEL).put("temperature", 0)
                .put("max_tokens", 48).put("repetition_penalty", 0.01)
                .set("messages", json().putArray("messages").add(message("user", PAYLOAD))));
        assertThat(answer).isEqualTo(expected.get("choices").get(0).get("message").get("content").asText());
        assertThat(browser.text("#transcript .msg-user .msg-body")).isEqualTo(PAYLOAD);
        assertNoMarkupRan();

        // Model output from an earlier session, as stored in this browser, with markup in it.
        String stored = "{\"id\":\"x1\",\"title\":" + Browser.JSON.writeValueAsString(PAYLOAD) + ",\"updated\":"
                + System.currentTimeMillis() + ",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},"
                + "{\"role\":\"assistant\",\"content\":" + Browser.JSON.writeValueAsString(PAYLOAD)
                + ",\"model\":" + Browser.JSON.writeValueAsString(PAYLOAD)
                + ",\"stats\":{\"ttft\":1,\"rate\":2,\"tokens\":3,\"exact\":true,\"finish\":"
                + Browser.JSON.writeValueAsString(PAYLOAD) + "}}]}";
        browser.script("const list = JSON.parse(localStorage.getItem('quire.console.conversations.v1'));"
                + "list.push(JSON.parse(arguments[0]));"
                + "localStorage.setItem('quire.console.conversations.v1', JSON.stringify(list));"
                + "localStorage.setItem('quire.console.settings.v1',"
                + " JSON.stringify({mode: 'chat', conversation: 'x1'}));",
                stored);
        openConsole(base + "/");
        browser.await("the stored conversation", 10, d -> browser.all("#transcript .msg-assistant").size() == 1);
        assertThat(browser.text("#transcript .msg-assistant .msg-body")).isEqualTo(PAYLOAD);
        assertThat(browser.text("#conversation-list li.active .conv-title")).isEqualTo(PAYLOAD);
        assertNoMarkupRan();

        // The completion view echoes the prompt and shows tokens as text too.
        browser.find("#mode-completion").click();
        sampling(Map.of("temperature", "0", "max_tokens", "16", "repetition_penalty", "0.01"));
        WebElement prompt = browser.find("#completion-prompt");
        prompt.clear();
        prompt.sendKeys(PAYLOAD);
        checkbox("#show-probs", true);
        browser.find("#completion-generate").click();
        browser.await("the completion", 60, d -> !browser.all("#completion-stats .answer-stats").isEmpty());
        assertThat(browser.text("#completion-echo")).isEqualTo(PAYLOAD);
        assertNoMarkupRan();
        browser.find("#mode-chat").click();
        assertThat(browser.consoleProblems()).as("no script error, no Trusted Types or CSP violation").isEmpty();
    }

    void awaitNoToast() {
        browser.await("no toast on screen", 10, d -> browser.all("#toasts .toast").isEmpty());
    }

    void assertNoMarkupRan() {
        assertThat(browser.script("return window.__quirePwned === undefined")).isEqualTo(true);
        assertThat(browser.script("return document.querySelectorAll('#view-playground img, #view-playground b, "
                + "#view-playground script, #token-tip img, #token-tip b').length")).isEqualTo(0L);
    }

    @Test
    @Order(7)
    void conversationsStayInTheBrowserAcrossReloads() {
        List<WebElement> before = browser.all("#conversation-list li .conv-title");
        assertThat(before.size()).isGreaterThanOrEqualTo(4);
        openConsole(base + "/");
        assertThat(browser.all("#conversation-list li .conv-title")).hasSize(before.size());
        // Open the two-turn chat of the greedy test.
        for (WebElement title : browser.all("#conversation-list .conv-title")) {
            if (title.getText().startsWith("Tell me a story about a cat.")) {
                title.click();
                break;
            }
        }
        browser.await("the two-turn chat", 10, d -> browser.all("#transcript .msg").size() == 4);
    }

    @Test
    @Order(8)
    void screenshots() throws Exception {
        // Some traffic for the charts, then the views as a person sees them.
        for (int i = 0; i < 6; i++) {
            api("/v1/completions", json().put("model", MODEL).put("prompt", "The little dog " + i)
                    .put("max_tokens", 64));
        }
        browser.find("#tab-cluster").click();
        browser.await("the cluster view", 15, d -> browser.all("#workers-table tr[data-worker-id]").size() == 1);
        Thread.sleep(2500);
        browser.screenshot("console-serve-cluster");
        browser.driver.manage().window().setSize(new Dimension(390, 844));
        browser.find("#tab-playground").click();
        Thread.sleep(300);
        browser.screenshot("console-phone");
        browser.find("[data-open-pane=settings]").click();
        Thread.sleep(400);
        browser.screenshot("console-phone-settings");
        browser.find("#settings [data-close-pane]").click();
        browser.driver.manage().window().setSize(new Dimension(1280, 860));

        // Dark mode follows the system's preference.
        String light = (String) browser.script("return getComputedStyle(document.body).backgroundColor");
        browser.driver.executeCdpCommand("Emulation.setEmulatedMedia", Map.of("features",
                List.of(Map.of("name", "prefers-color-scheme", "value", "dark"))));
        String dark = (String) browser.script("return getComputedStyle(document.body).backgroundColor");
        assertThat(dark).isNotEqualTo(light);
        assertThat(luminance(dark)).isLessThan(0.1);
        assertThat(luminance(light)).isGreaterThan(0.8);
        browser.screenshot("console-playground-dark");
        browser.driver.executeCdpCommand("Emulation.setEmulatedMedia", Map.of("features",
                List.of(Map.of("name", "prefers-color-scheme", "value", "light"))));
        assertThat(browser.consoleProblems()).isEmpty();
    }

    /** Relative brightness (0-1) of a CSS rgb() colour. */
    static double luminance(String rgb) {
        String[] parts = rgb.replaceAll("[^0-9,.]", "").split(",");
        return (0.2126 * Double.parseDouble(parts[0]) + 0.7152 * Double.parseDouble(parts[1])
                + 0.0722 * Double.parseDouble(parts[2])) / 255;
    }

    @Test
    @Order(9)
    void withApiKeysThePageAsksForTheKeyAndSendsIt() throws Exception {
        assertThat(Browser.get(keyedBase + "/", null).statusCode()).as("the page itself is public").isEqualTo(200);
        assertThat(Browser.get(keyedBase + "/stats", null).statusCode()).isEqualTo(401);
        assertThat(Browser.get(keyedBase + "/cluster", null).statusCode()).isEqualTo(401);
        assertThat(Browser.get(keyedBase + "/console/settings", null).statusCode()).isEqualTo(401);

        browser.open(keyedBase + "/");
        browser.await("the key prompt", 15, d -> browser.find("#key-dialog").isDisplayed());
        assertThat(browser.text("#server-status")).isEqualTo("API key needed");
        // Cancelled, the prompt stays closed while the cluster view keeps being refused; the key button reopens it.
        browser.find("#key-cancel").click();
        browser.find("#tab-cluster").click();
        browser.await("the cluster view saying it needs a key", 10,
                d -> browser.find("#cluster-error").isDisplayed());
        assertThat(browser.text("#cluster-error")).contains("API key");
        Thread.sleep(4500); // two refreshes, both refused
        assertThat(browser.find("#key-dialog").isDisplayed()).isFalse();
        browser.find("#key-button").click();
        browser.await("the key prompt from the button", 5, d -> browser.find("#key-dialog").isDisplayed());
        browser.screenshot("console-key");
        browser.find("#key-input").sendKeys("wrong-key", Keys.ENTER);
        browser.await("the key prompt again, saying the key was refused", 15,
                d -> browser.find("#key-dialog").isDisplayed() && browser.find("#key-error").isDisplayed());
        browser.find("#key-input").sendKeys(KEY, Keys.ENTER);
        browser.await("the console to connect with the key", 30,
                d -> browser.text("#server-status").endsWith("ready"));
        assertThat(browser.all("#model option")).hasSize(1);
        assertThat(browser.script("return sessionStorage.getItem('quire.console.apiKey')")).isEqualTo(KEY);
        assertThat(browser.script("return localStorage.getItem('quire.console.apiKey')")).isNull();
        assertThat(browser.script("return document.cookie")).isEqualTo("");
        browser.await("the cluster view with the key", 15,
                d -> browser.all("#workers-table tr[data-worker-id]").size() == 1);

        browser.find("#tab-playground").click();
        newChat();
        sampling(Map.of("temperature", "0", "max_tokens", "12"));
        String answer = chat("Once upon a time");
        JsonNode expected = Browser.postJson(keyedBase + "/v1/chat/completions", KEY, json().put("model", MODEL)
                .put("temperature", 0).put("max_tokens", 12)
                .set("messages", json().putArray("messages").add(message("user", "Once upon a time"))));
        assertThat(answer).isEqualTo(expected.get("choices").get(0).get("message").get("content").asText());

        browser.find("#tab-cluster").click();
        browser.await("the cluster view with the key", 15,
                d -> browser.all("#workers-table tr[data-worker-id]").size() == 1);
        assertThat(browser.find("#cluster-error").isDisplayed()).isFalse();
        browser.find("#tab-playground").click();
        browser.find("#show-code").click();
        String curl = browser.text("#code-text");
        assertThat(curl).contains("Authorization: Bearer $QUIRE_API_KEY").doesNotContain(KEY);
        browser.find("#code-close").click();
        assertThat(browser.consoleProblems().stream().filter(p -> !p.contains("401")).toList())
                .as("only the expected 401s").isEmpty();
    }

    static double scrape(String base, String metric) throws IOException, InterruptedException {
        double sum = 0;
        for (String line : Browser.get(base + "/metrics", null).body().split("\n")) {
            if (line.startsWith(metric + "{") || line.startsWith(metric + " ")) {
                sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return sum;
    }
}
