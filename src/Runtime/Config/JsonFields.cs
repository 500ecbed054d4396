using System.Text.Json;

namespace LongLM.Runtime.Config;

/// <summary>Typed reads of config.json fields with errors that name the file and the field.</summary>
internal sealed class JsonFields(string filePath, JsonElement root)
{
    public string FilePath { get; } = filePath;
    public JsonElement Root { get; } = root;

    public static JsonFields Load(string filePath)
    {
        if (!File.Exists(filePath)) throw new ConfigException(filePath, "file not found");
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(filePath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException(filePath, $"cannot read the file ({e.Message})", e);
        }
        // System.Text.Json checks string contents only when one is read (InvalidOperationException, deep inside some
        // family's field read), so bad UTF-8 and unpaired surrogate escapes are refused here, once.
        if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new ConfigException(filePath, "not valid UTF-8");
        try
        {
            using var document = JsonDocument.Parse(bytes, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            if (document.RootElement.ValueKind != JsonValueKind.Object) throw new ConfigException(filePath, "not a JSON object");
            CheckStrings(filePath, document.RootElement);
            return new JsonFields(filePath, document.RootElement.Clone());
        }
        catch (JsonException e)
        {
            throw new ConfigException(filePath, $"not valid JSON ({e.Message})", e);
        }
    }

    /// <summary>Reads every name and string once, so that later reads cannot fail on text ("\ud800" alone is not text).</summary>
    private static void CheckStrings(string filePath, JsonElement element)
    {
        try
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    foreach (var property in element.EnumerateObject())
                    {
                        _ = property.Name;
                        CheckStrings(filePath, property.Value);
                    }
                    break;
                case JsonValueKind.Array:
                    foreach (var item in element.EnumerateArray()) CheckStrings(filePath, item);
                    break;
                case JsonValueKind.String:
                    _ = element.GetString();
                    break;
            }
        }
        catch (InvalidOperationException e)
        {
            throw new ConfigException(filePath, $"holds an invalid string ({e.Message})", e);
        }
    }

    /// <summary>A JSON number as a finite double: 1e400 parses to infinity, which no field means.</summary>
    public static double Finite(string filePath, string name, JsonElement value) =>
        value.GetDouble() is var d && double.IsFinite(d)
            ? d
            : throw new ConfigException(filePath, $"field '{name}' must be a finite number, found {value.GetRawText()}");

    public bool Has(string name) => Root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null;

    /// <summary>The first of <paramref name="names"/> present (HF families spell some fields differently).</summary>
    public int RequiredInt(params string[] names) =>
        OptionalInt(names) ?? throw new ConfigException(FilePath, $"missing required field '{names[0]}'");

    public int? OptionalInt(params string[] names)
    {
        foreach (var name in names)
        {
            if (!Root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) continue;
            if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i)) return i;
            if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue) return (int)d;
            throw new ConfigException(FilePath, $"field '{name}' must be an integer, found {v.GetRawText()}");
        }
        return null;
    }

    public double? OptionalDouble(string name)
    {
        if (!Root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.Number) return Finite(FilePath, name, v);
        throw new ConfigException(FilePath, $"field '{name}' must be a number, found {v.GetRawText()}");
    }

    public bool? OptionalBool(string name)
    {
        if (!Root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new ConfigException(FilePath, $"field '{name}' must be true or false, found {v.GetRawText()}"),
        };
    }

    public string? OptionalString(string name)
    {
        if (!Root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw new ConfigException(FilePath, $"field '{name}' must be a string, found {v.GetRawText()}");
    }

    /// <summary>An id or a list of ids (eos_token_id may be either).</summary>
    public int[] IntOrIntList(string name)
    {
        if (!Root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return [];
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int one)) return [one];
        if (v.ValueKind == JsonValueKind.Array)
            return v.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int i)
                ? i
                : throw new ConfigException(FilePath, $"field '{name}' must hold integers, found {e.GetRawText()}")).ToArray();
        throw new ConfigException(FilePath, $"field '{name}' must be an integer or a list of integers, found {v.GetRawText()}");
    }

    public string[] StringList(string name)
    {
        if (!Root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return [];
        if (v.ValueKind != JsonValueKind.Array) throw new ConfigException(FilePath, $"field '{name}' must be a list of strings");
        return v.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : throw new ConfigException(FilePath, $"field '{name}' must hold strings")).ToArray();
    }

    public JsonFields? Object(string name)
    {
        if (!Root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind == JsonValueKind.Object ? new JsonFields(FilePath, v) : throw new ConfigException(FilePath, $"field '{name}' must be an object");
    }
}
