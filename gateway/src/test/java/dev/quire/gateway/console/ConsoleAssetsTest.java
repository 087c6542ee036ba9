package dev.quire.gateway.console;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What the policy promises, checked on the files themselves: nothing inline that the CSP would
 * block, no markup built from strings, nothing fetched from another origin, and every file listed.
 */
class ConsoleAssetsTest {

    static Map<String, String> files() throws IOException, URISyntaxException {
        Path dir = Path.of(ConsoleAssetsTest.class.getClassLoader().getResource("console").toURI());
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> list = Files.list(dir)) {
            for (Path p : list.toList()) {
                out.put(p.getFileName().toString(), Files.readString(p, StandardCharsets.UTF_8));
            }
        }
        return out;
    }

    @Test
    void theListNamesEveryFileOfTheFolder() throws Exception {
        assertThat(files().keySet()).containsExactlyInAnyOrderElementsOf(ConsoleAssets.FILES);
        ConsoleAssets assets = ConsoleAssets.load();
        assertThat(assets.version()).matches("[0-9a-f]{12}");
        for (String name : ConsoleAssets.FILES) {
            if (!name.equals("index.html")) {
                assertThat(assets.asset(name)).as(name).isNotNull();
            }
        }
        assertThat(assets.asset("index.html")).as("the page is served at / only").isNull();
    }

    @Test
    void thePageHasNoInlineScriptStyleOrHandler() throws Exception {
        String html = files().get("index.html");
        Matcher scripts = Pattern.compile("<script\\b([^>]*)>(.*?)</script>", Pattern.DOTALL).matcher(html);
        int count = 0;
        while (scripts.find()) {
            count++;
            assertThat(scripts.group(1)).contains("type=\"module\"").contains("src=\"{{assets}}/");
            assertThat(scripts.group(2)).isBlank();
        }
        assertThat(count).isEqualTo(1);
        assertThat(html).doesNotContainPattern("(?i)<style").doesNotContainPattern("(?i)\\sstyle=")
                .doesNotContainPattern("(?i)\\son[a-z]+=").doesNotContainPattern("(?i)javascript:");
        Matcher refs = Pattern.compile("(?:src|href)=\"([^\"]*)\"").matcher(html);
        while (refs.find()) {
            assertThat(refs.group(1)).as("every file from this origin")
                    .matches("\\{\\{assets}}/[a-z]+\\.(js|css|svg)|#[a-z]+");
        }
    }

    @Test
    void scriptsNeverParseMarkupOrEvaluateStringsOrCallOtherOrigins() throws Exception {
        for (Map.Entry<String, String> f : files().entrySet()) {
            if (!f.getKey().endsWith(".js")) {
                continue;
            }
            String js = f.getValue();
            for (String sink : List.of("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                    "new Function", "DOMParser", "createContextualFragment", "srcdoc")) {
                assertThat(js).as(f.getKey() + " uses " + sink).doesNotContain(sink);
            }
            assertThat(js).as(f.getKey() + ": setTimeout with a string")
                    .doesNotContainPattern("setTimeout\\(\\s*['\"`]");
            assertThat(js).as(f.getKey() + ": cookies").doesNotContain("document.cookie");
            Matcher imports = Pattern.compile("^import .* from '([^']+)';", Pattern.MULTILINE).matcher(js);
            while (imports.find()) {
                assertThat(imports.group(1)).as(f.getKey()).matches("\\./[a-z]+\\.js");
            }
            Matcher urls = Pattern.compile("https?://[^'\"`\\s)]+").matcher(js);
            while (urls.find()) {
                assertThat(urls.group()).as(f.getKey() + ": only the SVG namespace names a URL")
                        .isEqualTo("http://www.w3.org/2000/svg");
            }
        }
    }

    @Test
    void contentTypes() {
        assertThat(ConsoleAssets.contentType("a.js")).isEqualTo("text/javascript; charset=utf-8");
        assertThat(ConsoleAssets.contentType("a.css")).isEqualTo("text/css; charset=utf-8");
        assertThat(ConsoleAssets.contentType("a.html")).isEqualTo("text/html; charset=utf-8");
        assertThat(ConsoleAssets.contentType("a.svg")).isEqualTo("image/svg+xml");
    }
}
