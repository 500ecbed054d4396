using System.Text.Json;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Sampling;

namespace LongLM.Server;

/// <summary>
/// Reads an OpenAI request body field by field: a field of the wrong type, or out of range, is a 400 naming it
/// (never a 500, never silently ignored).
/// </summary>
internal sealed class RequestFields(JsonElement root)
{
    public JsonElement Root { get; } = root.ValueKind == JsonValueKind.Object ? root : throw OpenAIError.BadRequest("the request body must be a JSON object");

    /// <summary>
    /// Refuses the fields that matter and that this server would otherwise silently not honour (a logit bias, a JSON
    /// response format); other unknown fields are ignored, as llama-server does (clients send their own extras).
    /// </summary>
    public void RejectUnhonoured()
    {
        if (Has("logit_bias") && Root.GetProperty("logit_bias").ValueKind is not (JsonValueKind.Null or JsonValueKind.Object))
            throw OpenAIError.BadRequest("'logit_bias' must be an object", "logit_bias");
        if (Has("logit_bias") && Root.GetProperty("logit_bias").ValueKind == JsonValueKind.Object && Root.GetProperty("logit_bias").EnumerateObject().Any())
            throw OpenAIError.BadRequest("'logit_bias' is not supported", "logit_bias");
        if (Has("response_format") && Root.GetProperty("response_format") is { ValueKind: JsonValueKind.Object } f
            && f.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() != "text")
            throw OpenAIError.BadRequest("only response_format {\"type\": \"text\"} is supported", "response_format");
    }

    public bool Has(string name) => Root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null;

    public string? String(string name)
    {
        if (!Has(name)) return null;
        var v = Root.GetProperty(name);
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw OpenAIError.BadRequest($"'{name}' must be a string", name);
    }

    public bool Bool(string name, bool fallback = false)
    {
        if (!Has(name)) return fallback;
        var v = Root.GetProperty(name);
        return v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : throw OpenAIError.BadRequest($"'{name}' must be a boolean", name);
    }

    public double? Number(string name, double min, double max)
    {
        if (!Has(name)) return null;
        var v = Root.GetProperty(name);
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || !double.IsFinite(d))
            throw OpenAIError.BadRequest($"'{name}' must be a number", name);
        if (d < min || d > max) throw OpenAIError.BadRequest($"'{name}' must lie in [{min}, {max}], got {d}", name);
        return d;
    }

    public long? Integer(string name, long min, long max)
    {
        if (!Has(name)) return null;
        var v = Root.GetProperty(name);
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long n)) throw OpenAIError.BadRequest($"'{name}' must be an integer", name);
        if (n < min || n > max) throw OpenAIError.BadRequest($"'{name}' must lie in [{min}, {max}], got {n}", name);
        return n;
    }

    /// <summary>"stop": a string or an array of at most 64 strings.</summary>
    public IReadOnlyList<string> Stop()
    {
        if (!Has("stop")) return [];
        var v = Root.GetProperty("stop");
        if (v.ValueKind == JsonValueKind.String) return [v.GetString()!];
        if (v.ValueKind != JsonValueKind.Array || v.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
            throw OpenAIError.BadRequest("'stop' must be a string or an array of strings", "stop");
        return v.EnumerateArray().Select(e => e.GetString()!).ToArray();
    }

    /// <summary>The generation options the request asks for, over <paramref name="defaults"/>.</summary>
    public GenerationOptions Generation(GenerationOptions defaults, int maxTokensLimit)
    {
        if (Integer("n", 1, long.MaxValue) is > 1) throw OpenAIError.BadRequest("only n = 1 is supported", "n");
        var s = defaults.Sampling;
        long? maxTokens = Integer("max_completion_tokens", 1, maxTokensLimit) ?? Integer("max_tokens", 1, maxTokensLimit);
        long? seed = Integer("seed", long.MinValue, long.MaxValue);
        var options = defaults with
        {
            MaxTokens = (int)(maxTokens ?? defaults.MaxTokens),
            StopSequences = Stop(),
            Sampling = s with
            {
                Temperature = (float)(Number("temperature", 0, 2) ?? s.Temperature),
                TopP = (float)(Number("top_p", 1e-9, 1) ?? s.TopP),
                TopK = (int)(Integer("top_k", 0, int.MaxValue) ?? s.TopK),
                MinP = (float)(Number("min_p", 0, 1) ?? s.MinP),
                RepetitionPenalty = (float)(Number("repeat_penalty", 1e-3, 100) ?? s.RepetitionPenalty),
                FrequencyPenalty = (float)(Number("frequency_penalty", -2, 2) ?? s.FrequencyPenalty),
                PresencePenalty = (float)(Number("presence_penalty", -2, 2) ?? s.PresencePenalty),
                Seed = seed is long v ? unchecked((int)v ^ (int)(v >> 32)) : s.Seed,
            },
        };
        try
        {
            options.Validate();
        }
        catch (Runtime.LongLMException e)
        {
            throw OpenAIError.BadRequest(e.Message);
        }
        return options;
    }

    /// <summary>A streamed response ends with a usage chunk: <c>"stream": true</c> and <c>stream_options.include_usage</c>.</summary>
    public bool StreamWithUsage() =>
        Bool("stream") && Has("stream_options") && Root.GetProperty("stream_options") is { ValueKind: JsonValueKind.Object } options
        && options.TryGetProperty("include_usage", out var usage) && usage.ValueKind == JsonValueKind.True;

    /// <summary>logprobs (bool for chat, int for completions) and top_logprobs: how many alternatives per token, or null for none.</summary>
    public int? LogProbs(bool chat)
    {
        if (chat)
        {
            if (!Bool("logprobs")) return Has("top_logprobs") ? throw OpenAIError.BadRequest("'top_logprobs' needs 'logprobs': true", "top_logprobs") : null;
            return (int)(Integer("top_logprobs", 0, 20) ?? 0);
        }
        return Integer("logprobs", 0, 5) is long n ? (int)n : null;
    }
}
