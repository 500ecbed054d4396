using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LongLM.Runtime.Tokenization;

namespace LongLM.Runtime.Chat;

/// <summary>
/// The chat templates a model folder ships, read the way transformers' tokenizer loading does: tokenizer_config.json's
/// "chat_template" (a string, or a list of {"name", "template"}), then chat_template.jinja (which replaces the
/// "default" template), then additional_chat_templates/&lt;name&gt;.jinja (one named template each).
/// </summary>
public sealed class ChatTemplates
{
    /// <summary>transformers' file of the default template.</summary>
    public const string TemplateFile = "chat_template.jinja";

    /// <summary>transformers' folder of further named templates.</summary>
    public const string AdditionalTemplatesFolder = "additional_chat_templates";

    /// <summary>The largest tokenizer_config.json read (it holds the added-token table, so it can be megabytes).</summary>
    public const long MaxConfigBytes = 64L * 1024 * 1024;

    /// <summary>The special tokens transformers passes to a template (special_tokens_map).</summary>
    private static readonly string[] SpecialTokenNames = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token", "additional_special_tokens"];

    private ChatTemplates(IReadOnlyDictionary<string, ChatTemplate> byName, IReadOnlyDictionary<string, JsonNode?> specialTokens)
    {
        ByName = byName;
        SpecialTokens = specialTokens;
    }

    /// <summary>The templates by name ("default", "tool_use", "rag", ...).</summary>
    public IReadOnlyDictionary<string, ChatTemplate> ByName { get; }

    /// <summary>
    /// bos_token, eos_token, unk_token, sep_token, pad_token, cls_token, mask_token (strings; AddedToken objects reduced
    /// to their content; unset ones absent) and additional_special_tokens (a list of strings), from tokenizer_config.json.
    /// Pass them as <see cref="ChatTemplateInput.Variables"/>.
    /// </summary>
    public IReadOnlyDictionary<string, JsonNode?> SpecialTokens { get; }

    /// <summary>Reads the templates of <paramref name="modelDirectory"/>; null when it has none.</summary>
    public static ChatTemplates? Load(string modelDirectory)
    {
        ArgumentNullException.ThrowIfNull(modelDirectory);
        if (!Directory.Exists(modelDirectory)) throw new LongLMException($"Model folder '{modelDirectory}' does not exist.", modelDirectory);
        var sources = new Dictionary<string, (string Text, string Origin)>(StringComparer.Ordinal);
        var specialTokens = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);

        string configPath = Path.Combine(modelDirectory, TokenizerLoader.ConfigFile);
        if (File.Exists(configPath)) ReadConfig(configPath, sources, specialTokens);

        string templatePath = Path.Combine(modelDirectory, TemplateFile);
        if (File.Exists(templatePath)) sources["default"] = (ReadTemplateFile(templatePath), templatePath);

        string additional = Path.Combine(modelDirectory, AdditionalTemplatesFolder);
        if (Directory.Exists(additional))
        {
            foreach (string file in Directory.GetFiles(additional, "*.jinja").Order(StringComparer.Ordinal))
                sources[Path.GetFileNameWithoutExtension(file)] = (ReadTemplateFile(file), file);
        }

        if (sources.Count == 0) return null;
        var byName = new SortedDictionary<string, ChatTemplate>(StringComparer.Ordinal);
        foreach (var (name, (text, origin)) in sources) byName[name] = ChatTemplate.Parse(text, name, origin);
        return new ChatTemplates(byName, specialTokens);
    }

    /// <summary>
    /// transformers' choice: the named template; else "tool_use" when tools are given and it exists; else "default".
    /// An unknown name, or no default to fall back on, is a <see cref="LongLMException"/> listing the names.
    /// </summary>
    public ChatTemplate Select(string? name, bool hasTools)
    {
        if (name is not null)
        {
            if (ByName.TryGetValue(name, out var named)) return named;
            throw new LongLMException($"no chat template named '{name}'; this model has: {string.Join(", ", ByName.Keys)}");
        }
        if (hasTools && ByName.TryGetValue("tool_use", out var toolUse)) return toolUse;
        if (ByName.TryGetValue("default", out var fallback)) return fallback;
        throw new LongLMException($"this model has several chat templates and no default; name one of: {string.Join(", ", ByName.Keys)}");
    }

    /// <summary>The length of the file a path resolves to (a symbolic link, as in HF's hub cache, is followed).</summary>
    private static long LengthOf(string path)
    {
        using var handle = File.OpenHandle(path);
        return RandomAccess.GetLength(handle);
    }

    private static string ReadTemplateFile(string path)
    {
        long bytes = LengthOf(path);
        // UTF-8 needs at least one byte per character, at most 4.
        if (bytes > 4L * ChatTemplate.MaxSourceChars)
            throw new LongLMException($"'{path}' is {bytes} bytes; a chat template may have at most {ChatTemplate.MaxSourceChars} characters", path);
        byte[] data = TokenizerLoader.ReadAllBytes(path);
        if (!System.Text.Unicode.Utf8.IsValid(data)) throw new LongLMException($"'{path}' is not valid UTF-8.", path);
        string text = new UTF8Encoding(false).GetString(data);
        if (text.Length > 0 && text[0] == '\uFEFF') text = text[1..];
        return text;
    }

    private static void ReadConfig(string path, Dictionary<string, (string, string)> sources, Dictionary<string, JsonNode?> specialTokens)
    {
        long length = LengthOf(path);
        if (length > MaxConfigBytes) throw new LongLMException($"'{path}' is {length} bytes; at most {MaxConfigBytes} are read", path);
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(TokenizerLoader.ReadJsonBytes(path), documentOptions: new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw new LongLMException($"'{path}' is not valid JSON: {e.Message}", path, e);
        }
        if (root is not JsonObject config) throw new LongLMException($"'{path}' is not a JSON object", path);

        switch (config["chat_template"])
        {
            case null:
                break;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                sources["default"] = (value.GetValue<string>(), path);
                break;
            case JsonArray list:
                for (int i = 0; i < list.Count; i++)
                {
                    if (list[i] is not JsonObject entry
                        || entry["name"] is not JsonValue nameValue || nameValue.GetValueKind() != JsonValueKind.String
                        || entry["template"] is not JsonValue templateValue || templateValue.GetValueKind() != JsonValueKind.String)
                        throw new LongLMException($"'{path}': chat_template[{i}] must be an object with string \"name\" and \"template\"", path);
                    sources[nameValue.GetValue<string>()] = (templateValue.GetValue<string>(), path);
                }
                break;
            default:
                throw new LongLMException($"'{path}': chat_template must be a string or a list of {{\"name\", \"template\"}} objects", path);
        }

        foreach (string name in SpecialTokenNames)
        {
            var node = config[name];
            if (node is null) continue;
            if (name == "additional_special_tokens")
            {
                if (node is not JsonArray tokens) throw new LongLMException($"'{path}': additional_special_tokens must be a list", path);
                var list = new JsonArray();
                foreach (var token in tokens) list.Add(TokenContent(token, path, name));
                specialTokens[name] = list;
            }
            else specialTokens[name] = TokenContent(node, path, name);
        }
    }

    /// <summary>A special token as transformers gives it to a template: its text, also for an AddedToken object.</summary>
    private static string TokenContent(JsonNode? node, string path, string name) => node switch
    {
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        JsonObject o when o["content"] is JsonValue c && c.GetValueKind() == JsonValueKind.String => c.GetValue<string>(),
        _ => throw new LongLMException($"'{path}': {name} must be a string or an object with \"content\"", path),
    };
}
