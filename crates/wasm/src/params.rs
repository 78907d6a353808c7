//! JSON options from JavaScript (camelCase, unknown fields rejected) to engine types.

use engine::{
    CacheType, ChatMessage, GenerateParams, Json, SamplerParams, SessionOptions, Tools, MAX_CTX,
};
use serde::Deserialize;

use crate::error::WasmError;

/// Options of `Engine.load`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadOptions {
    /// Context window in tokens; 0 or absent: the model's, capped at 4096. A size whose
    /// KV cache does not fit wasm32's 4 GiB is refused (as is one above 1048576 for a
    /// file that declares no context length).
    pub n_ctx: usize,
    /// Prompt tokens per forward call (default 64).
    pub n_batch: Option<usize>,
    /// KV cache element type: `"f16"` (default; stored as `engine::kv_storage`
    /// decides) or `"f32"`.
    pub cache_type: Option<String>,
    /// Chat template: a built-in name or Jinja source (default: the file's).
    pub chat_template: Option<String>,
    /// Re-encode Q5_0 matrices as Q8_0 at load time (same results, faster
    /// decode, more memory); default on when the copies take at most half
    /// the file's size.
    pub repack: Option<bool>,
}

/// Sampling and stopping options of `generate_start` / `chat_start`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct GenerateOptions {
    pub max_tokens: Option<usize>,
    pub temperature: Option<f32>,
    pub top_k: Option<usize>,
    pub top_p: Option<f32>,
    pub min_p: Option<f32>,
    pub repeat_penalty: Option<f32>,
    /// Tokens of the penalty window: -1 = the context, 0 = off, at most 1048576.
    pub penalty_last_n: Option<i64>,
    pub seed: Option<u64>,
    pub stop: Vec<String>,
    /// Render control tokens in the output.
    pub special: bool,
}

/// One chat message as JSON: `{"role": "user", "content": "Hi"}`, and for an assistant
/// turn that called tools, `tool_calls` (any JSON, handed to the template as is).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Message {
    role: String,
    content: String,
    #[serde(default)]
    tool_calls: Option<Json>,
}

fn parse<'a, T: Deserialize<'a> + Default>(
    json: &'a str,
    what: &'static str,
) -> Result<T, WasmError> {
    if json.trim().is_empty() {
        return Ok(T::default());
    }
    serde_json::from_str(json).map_err(|e| WasmError::json(what, e))
}

/// Session options from `LoadOptions` JSON (empty string: defaults); one thread.
pub fn session_options(json: &str, clock_ms: fn() -> f64) -> Result<SessionOptions, WasmError> {
    let o: LoadOptions = parse(json, "load options")?;
    let cache_type = match o.cache_type.as_deref() {
        None | Some("f16") => CacheType::F16,
        Some("f32") => CacheType::F32,
        Some(other) => {
            return Err(WasmError::Option {
                name: "cacheType",
                detail: format!("{other:?} is not \"f16\" or \"f32\""),
            })
        }
    };
    let defaults = SessionOptions::default();
    Ok(SessionOptions {
        n_ctx: o.n_ctx,
        cache_type,
        threads: 1,
        n_batch: o.n_batch.unwrap_or(defaults.n_batch),
        chat_template: o.chat_template,
        clock_ms: Some(clock_ms),
        repack: o.repack,
        ..defaults
    })
}

/// Generation parameters from `GenerateOptions` JSON (empty string: defaults).
pub fn generate_params(json: &str) -> Result<GenerateParams, WasmError> {
    let o: GenerateOptions = parse(json, "generation options")?;
    let d = SamplerParams::default();
    let check = |name: &'static str, v: Option<f32>| match v {
        Some(x) if !x.is_finite() => Err(WasmError::Option {
            name,
            detail: format!("{x} is not a finite number"),
        }),
        _ => Ok(v),
    };
    let sampler = SamplerParams {
        temperature: check("temperature", o.temperature)?.unwrap_or(d.temperature),
        top_k: o.top_k.unwrap_or(d.top_k),
        top_p: check("topP", o.top_p)?.unwrap_or(d.top_p),
        min_p: check("minP", o.min_p)?.unwrap_or(d.min_p),
        repeat_penalty: check("repeatPenalty", o.repeat_penalty)?.unwrap_or(d.repeat_penalty),
        penalty_last_n: match o.penalty_last_n {
            None => d.penalty_last_n,
            Some(n) => penalty_last_n(n)?,
        },
        seed: o.seed.unwrap_or(d.seed),
        ..d
    };
    let defaults = GenerateParams::default();
    Ok(GenerateParams {
        sampler,
        max_tokens: o.max_tokens.unwrap_or(defaults.max_tokens),
        stop: o.stop.into_iter().filter(|s| !s.is_empty()).collect(),
        special: o.special,
        ..defaults
    })
}

/// `penaltyLastN`: -1 = the context (the session caps the window at its context),
/// otherwise 0..=MAX_CTX.
fn penalty_last_n(n: i64) -> Result<usize, WasmError> {
    match n {
        -1 => Ok(usize::MAX),
        0.. if n as u64 <= MAX_CTX as u64 => Ok(n as usize),
        _ => Err(WasmError::Option {
            name: "penaltyLastN",
            detail: format!("{n} is not -1 (the context) or in 0..={MAX_CTX}"),
        }),
    }
}

/// Chat messages from a JSON array of `{role, content, tool_calls?}` objects.
pub fn messages(json: &str) -> Result<Vec<ChatMessage>, WasmError> {
    let m: Vec<Message> = serde_json::from_str(json).map_err(|e| WasmError::json("messages", e))?;
    Ok(m.into_iter()
        .map(|m| {
            let msg = ChatMessage::new(m.role, m.content);
            match m.tool_calls {
                Some(calls) => msg.with_tool_calls(calls),
                None => msg,
            }
        })
        .collect())
}

/// Tool definitions from a JSON array (empty string: none).
pub fn tools(json: &str) -> Result<Option<Tools>, WasmError> {
    if json.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        Tools::from_json(json).map_err(engine::EngineError::from)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock() -> f64 {
        1.0
    }

    #[test]
    fn load_options_defaults_and_fields() {
        let o = session_options("", clock).unwrap();
        assert_eq!((o.n_ctx, o.threads, o.n_batch), (0, 1, 64));
        assert_eq!(o.cache_type, CacheType::F16);
        assert_eq!(o.repack, None);
        let o = session_options(
            r#"{"nCtx":512,"nBatch":8,"cacheType":"f32","chatTemplate":"gemma","repack":false}"#,
            clock,
        )
        .unwrap();
        assert_eq!((o.n_ctx, o.n_batch, o.cache_type), (512, 8, CacheType::F32));
        assert_eq!(o.chat_template.as_deref(), Some("gemma"));
        assert_eq!(o.repack, Some(false));
        assert_eq!((o.clock_ms.unwrap())(), 1.0);
        let e = session_options(r#"{"cacheType":"q8"}"#, clock).unwrap_err();
        assert!(e.to_string().contains("cacheType"), "{e}");
        let e = session_options(r#"{"nctx":5}"#, clock).unwrap_err();
        assert!(e.to_string().contains("unknown field `nctx`"), "{e}");
    }

    #[test]
    fn generate_params_map_every_field() {
        let p = generate_params(
            r#"{"maxTokens":16,"temperature":0,"topK":5,"topP":0.5,"minP":0.1,
                "repeatPenalty":1.1,"penaltyLastN":8,"seed":42,"stop":["\n",""],"special":true}"#,
        )
        .unwrap();
        assert_eq!(p.max_tokens, 16);
        let s = &p.sampler;
        assert_eq!(
            (s.temperature, s.top_k, s.top_p, s.min_p),
            (0.0, 5, 0.5, 0.1)
        );
        assert_eq!((s.repeat_penalty, s.penalty_last_n, s.seed), (1.1, 8, 42));
        assert_eq!(p.stop, vec!["\n".to_string()]);
        assert!(p.special);
        let d = generate_params("{}").unwrap();
        assert_eq!(d.sampler, SamplerParams::default());
        assert!(generate_params(r#"{"maxTokens":-1}"#).is_err());
        // Issue 13: a huge window aborted the worker; negative floats keep their meaning.
        for bad in ["-2", "1048577", "9007199254740991"] {
            let e = generate_params(&format!(r#"{{"penaltyLastN":{bad}}}"#)).unwrap_err();
            assert!(e.to_string().contains("penaltyLastN"), "{bad}: {e}");
        }
        let p =
            generate_params(r#"{"penaltyLastN":-1,"temperature":-1,"topP":-1,"minP":5}"#).unwrap();
        assert_eq!(p.sampler.penalty_last_n, usize::MAX);
        assert_eq!(p.sampler.temperature, -1.0);
        let p = generate_params(r#"{"penaltyLastN":1048576}"#).unwrap();
        assert_eq!(p.sampler.penalty_last_n, MAX_CTX);
        assert!(generate_params(r#"{"temperature":"hot"}"#).is_err());
        assert!(generate_params("[").is_err());
    }

    #[test]
    fn messages_parse_and_reject_garbage() {
        let m = messages(r#"[{"role":"user","content":"Hi"},{"role":"assistant","content":"Yo"}]"#)
            .unwrap();
        assert_eq!(
            m,
            vec![ChatMessage::user("Hi"), ChatMessage::assistant("Yo")]
        );
        let e = messages(r#"[{"role":"user"}]"#).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid messages: missing field `content`"),
            "{e}"
        );
        assert!(messages("{}").is_err());
        // An assistant turn with tool calls, then the tool's result.
        let m = messages(
            r#"[{"role":"assistant","content":"","tool_calls":[{"type":"function","function":{"name":"f","arguments":{"b":1,"a":2}}}]},
                {"role":"tool","content":"42"}]"#,
        )
        .unwrap();
        let want = r#"[{"type":"function","function":{"name":"f","arguments":{"b":1,"a":2}}}]"#;
        assert_eq!(m[0].tool_calls, Some(Json::parse(want).unwrap()));
        assert_eq!(m[1], ChatMessage::new("tool", "42"));
    }

    #[test]
    fn tools_parse_and_name_what_is_wrong() {
        assert_eq!(tools("").unwrap(), None);
        let t = tools(r#"[{"type":"function","function":{"name":"f"}}]"#).unwrap();
        assert_eq!(t.map(|t| t.len()), Some(1));
        for (bad, needle) in [
            (
                "{}",
                "expected a JSON array of tool definitions, found an object",
            ),
            ("[1]", "tool 0 is a number, not an object"),
            ("null", "found null"),
            ("[", "not valid JSON"),
        ] {
            let e = tools(bad).unwrap_err().to_string();
            assert!(
                e.starts_with("invalid tools: ") && e.contains(needle),
                "{bad}: {e}"
            );
        }
    }
}
