package dev.quire.loadtest.driver;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ExtraBodyTest {
    private static ObjectNode json(String s) throws Exception {
        return (ObjectNode) new ObjectMapper().readTree(s);
    }

    @Test
    void addsFieldsAndExtendsObjects() throws Exception {
        ObjectNode body = json("{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
        ObjectNode extra = ExtraBody.parse("{\"cache_prompt\": false, \"stream_options\": {\"continuous_usage_stats\": "
                + "true}, \"n_probs\": [1, {\"a\": null}]}");
        ExtraBody.merge(body, extra);
        assertThat(body).isEqualTo(json("{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true,"
                + "\"continuous_usage_stats\":true},\"cache_prompt\":false,\"n_probs\":[1,{\"a\":null}]}"));
        // The parsed option is not shared with the bodies it went into.
        ((ObjectNode) body.get("n_probs").get(1)).put("a", 2);
        assertThat(extra.get("n_probs").get(1).get("a").isNull()).isTrue();
    }

    @Test
    void neverReplacesWhatTheHarnessSets() throws Exception {
        ObjectNode body = json("{\"temperature\":0,\"stream_options\":{\"include_usage\":true}}");
        assertThatThrownBy(() -> ExtraBody.merge(body, json("{\"temperature\": 0.7}")))
                .hasMessage("--extra-body: \"temperature\" is set by quire bench itself; use --temperature");
        assertThatThrownBy(() -> ExtraBody.merge(body, json("{\"stream_options\": {\"include_usage\": false}}")))
                .hasMessageContaining("\"stream_options.include_usage\" is set by quire bench itself");
        assertThatThrownBy(() -> ExtraBody.merge(body, json("{\"stream_options\": 1}")))
                .hasMessageContaining("\"stream_options\" is set by quire bench itself");
        assertThatThrownBy(() -> ExtraBody.merge(body, json("{\"messages\": []}")))
                .hasMessageContaining("\"messages\" is set by quire bench itself");
    }

    @Test
    void takesOnlyAJsonObject() {
        assertThat(ExtraBody.parse(null)).isNull();
        assertThat(ExtraBody.parse("{}")).isEmpty();
        assertThatThrownBy(() -> ExtraBody.parse("[1, 2]")).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("--extra-body must be a JSON object such as '{\"cache_prompt\": false}'; got a JSON array: "
                        + "'[1, 2]'");
        assertThatThrownBy(() -> ExtraBody.parse("\"x\"")).hasMessageContaining("got a JSON string");
        assertThatThrownBy(() -> ExtraBody.parse("null")).hasMessageContaining("got a JSON null");
        assertThatThrownBy(() -> ExtraBody.parse("")).hasMessageContaining("got nothing");
        assertThatThrownBy(() -> ExtraBody.parse("cache_prompt=false")).hasMessageStartingWith("--extra-body must be a "
                + "JSON object").hasMessageContaining("'cache_prompt=false' is not valid JSON");
        assertThatThrownBy(() -> ExtraBody.parse("{\"a\": 1} {\"b\": 2}")).hasMessageContaining("is not valid JSON");
        assertThatThrownBy(() -> ExtraBody.parse("{\"a\": ")).hasMessageContaining("is not valid JSON");
    }
}
