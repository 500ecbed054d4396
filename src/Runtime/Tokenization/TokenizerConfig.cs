using System.Text.Json;

namespace LongLM.Runtime.Tokenization;

/// <summary>
/// The parts of a Hugging Face <c>tokenizer_config.json</c> that change how ids are made:
/// <c>add_bos_token</c>, <c>bos_token</c> and <c>eos_token</c>.
/// </summary>
internal sealed class TokenizerConfig
{
    /// <summary>A <c>bos_token</c>/<c>eos_token</c> entry that is present in the file.</summary>
    /// <param name="Key">The JSON key, for messages.</param>
    /// <param name="Content">The token text, or null when the file sets the entry to null (no such token).</param>
    internal sealed record SpecialToken(string Key, string? Content);

    private TokenizerConfig(string path, bool? addBosToken, SpecialToken? bosToken, SpecialToken? eosToken)
    {
        Path = path;
        AddBosToken = addBosToken;
        BosToken = bosToken;
        EosToken = eosToken;
    }

    /// <summary>The file read.</summary>
    public string Path { get; }

    /// <summary><c>add_bos_token</c>, or null when absent.</summary>
    public bool? AddBosToken { get; }

    /// <summary><c>bos_token</c>, or null when absent.</summary>
    public SpecialToken? BosToken { get; }

    /// <summary><c>eos_token</c>, or null when absent.</summary>
    public SpecialToken? EosToken { get; }

    /// <summary>Reads <paramref name="path"/>.</summary>
    /// <exception cref="TokenizerException">The file is not valid JSON or has entries of the wrong kind.</exception>
    public static TokenizerConfig Read(string path)
    {
        byte[] data = TokenizerLoader.ReadJsonBytes(path);
        try
        {
            using var document = JsonDocument.Parse(data);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new TokenizerException($"'{path}' is not a JSON object.", path);
            }

            bool? addBos = root.TryGetProperty("add_bos_token", out var add) && add.ValueKind is JsonValueKind.True or JsonValueKind.False
                ? add.GetBoolean()
                : null;
            return new TokenizerConfig(path, addBos, ReadToken(root, "bos_token", path), ReadToken(root, "eos_token", path));
        }
        catch (JsonException e)
        {
            throw new TokenizerException($"'{path}' is not valid JSON: {e.Message}", path, e);
        }
        catch (InvalidOperationException e)
        {
            // A string with an unpaired surrogate escape ("\ud800") is valid JSON but no text.
            throw new TokenizerException($"'{path}' holds an invalid string: {e.Message}", path, e);
        }
    }

    /// <summary>A token entry: a string, an AddedToken object <c>{"content": ...}</c>, or null.</summary>
    private static SpecialToken? ReadToken(JsonElement root, string key, string path)
    {
        if (!root.TryGetProperty(key, out var value))
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.Null => new SpecialToken(key, null),
            JsonValueKind.String => new SpecialToken(key, value.GetString()),
            JsonValueKind.Object when value.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String
                => new SpecialToken(key, content.GetString()),
            _ => throw new TokenizerException($"'{path}': \"{key}\" must be a string, an object with \"content\", or null.", path),
        };
    }
}
