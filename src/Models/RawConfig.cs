using System.Text.Json;
using LongLM.Runtime.Config;

namespace LongLM.Models;

/// <summary>
/// Typed reads of family-specific config.json fields from <see cref="ModelConfig.Raw"/> (MPT's attn_config, BLOOM's
/// layer_norm_epsilon ...); errors are <see cref="ConfigException"/>s naming the file and the dotted field.
/// </summary>
internal readonly struct RawConfig
{
    private readonly string _filePath;
    private readonly JsonElement _element;
    private readonly string _prefix;

    private RawConfig(string filePath, JsonElement element, string prefix)
    {
        _filePath = filePath;
        _element = element;
        _prefix = prefix;
    }

    /// <summary>The top level of <paramref name="config"/>'s JSON.</summary>
    public static RawConfig Of(ModelConfig config) => new(config.FilePath, config.Raw, "");

    /// <summary>A problem with this file, as a ConfigException.</summary>
    public ConfigException Error(string problem) => new(_filePath, problem);

    /// <summary>The field name as a user finds it in the file ("attn_config.clip_qkv").</summary>
    public string Name(string field) => _prefix + field;

    /// <summary>True when <paramref name="field"/> is present and not null.</summary>
    public bool Has(string field) => Get(field) is not null;

    /// <summary>A finite number, or null when absent (1e400 parses to infinity, which no field means).</summary>
    public double? Double(string field) => Get(field) is { } v
        ? v.ValueKind == JsonValueKind.Number && v.GetDouble() is var d && double.IsFinite(d)
            ? d
            : throw Error($"field '{Name(field)}' must be a finite number, found {v.GetRawText()}")
        : null;

    /// <summary>A whole number in int range (4.0 counts, as the common fields read it), or null when absent.</summary>
    public int? Int(string field) => Get(field) is { } v
        ? v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue
            ? (int)d
            : throw Error($"field '{Name(field)}' must be a whole number, found {v.GetRawText()}")
        : null;

    /// <summary>true/false, or null when absent.</summary>
    public bool? Bool(string field) => Get(field) is { } v
        ? v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error($"field '{Name(field)}' must be true or false, found {v.GetRawText()}"),
        }
        : null;

    /// <summary>A string, or null when absent.</summary>
    public string? String(string field) => Get(field) is { } v
        ? v.ValueKind == JsonValueKind.String ? v.GetString() : throw Error($"field '{Name(field)}' must be a string, found {v.GetRawText()}")
        : null;

    /// <summary>A nested object (MPT's attn_config), or null when absent.</summary>
    public RawConfig? Object(string field) => Get(field) is { } v
        ? v.ValueKind == JsonValueKind.Object ? new RawConfig(_filePath, v, Name(field) + ".") : throw Error($"field '{Name(field)}' must be an object")
        : null;

    /// <summary>The raw JSON text of a present field (for messages), or null.</summary>
    public string? Text(string field) => Get(field)?.GetRawText();

    private JsonElement? Get(string field) =>
        _element.ValueKind == JsonValueKind.Object && _element.TryGetProperty(field, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;
}
