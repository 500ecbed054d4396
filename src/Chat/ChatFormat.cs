using System.Text.Json.Nodes;
using LongLM.Models;
using LongLM.Runtime;
using LongLM.Runtime.Chat;
using LongLM.Runtime.Tokenization;

namespace LongLM.Chat;

/// <summary>
/// How a model turns a conversation into ids: its chat template (from the model folder, or one the caller gives),
/// the tokenizer's special tokens as template variables, and the end-of-turn ids that stop a reply.
/// </summary>
/// <remarks>Immutable and thread-safe.</remarks>
public sealed class ChatFormat
{
    // End-of-turn markers of the common template families; one ends a reply when the tokenizer has it as a special
    // token and the template writes it (HF leaves this to generation_config.json, which many folders lack).
    private static readonly string[] EndOfTurnMarkers =
    [
        "<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>", "<|endoftext|>", "<|end_of_text|>",
        "</s>", "<｜end▁of▁sentence｜>", "<|END_OF_TURN_TOKEN|>", "<|return|>",
    ];

    private readonly ChatTemplates? _templates;
    private readonly ChatTemplate? _fixed;
    private readonly string? _name;

    private ChatFormat(ModelTokenizer tokenizer, ChatTemplates? templates, ChatTemplate? fixedTemplate, string? name,
        IReadOnlyDictionary<string, JsonNode?> variables, IReadOnlySet<int> eosIds)
    {
        Tokenizer = tokenizer;
        _templates = templates;
        _fixed = fixedTemplate;
        _name = name;
        Variables = variables;
        var stop = new HashSet<int>(eosIds);
        IEnumerable<ChatTemplate> all = fixedTemplate is not null ? [fixedTemplate] : templates!.ByName.Values;
        foreach (var marker in EndOfTurnMarkers)
        {
            if (tokenizer.SpecialTokens.TryGetValue(marker, out int id) && all.Any(t => t.Source.Contains(marker, StringComparison.Ordinal)))
                stop.Add(id);
        }
        StopIds = stop;
    }

    /// <summary>The tokenizer the prompt is encoded with.</summary>
    public ModelTokenizer Tokenizer { get; }

    /// <summary>Variables every rendering gets (bos_token, eos_token, ... as transformers passes them).</summary>
    public IReadOnlyDictionary<string, JsonNode?> Variables { get; }

    /// <summary>Ids that end a reply: the model's EOS ids and the template's end-of-turn tokens.</summary>
    public IReadOnlySet<int> StopIds { get; }

    /// <summary>
    /// The model folder's own template (tokenizer_config.json's chat_template or chat_template.jinja);
    /// <paramref name="templateName"/> picks a named one ("tool_use", ...), else HF's choice applies.
    /// </summary>
    /// <exception cref="LongLMException">The folder has no chat template, or not one of that name.</exception>
    public static ChatFormat ForModel(LanguageModel model, string? templateName = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        return ForFolder(model.Directory, model.Tokenizer, model.StopIds, templateName);
    }

    /// <summary>
    /// The template of the folder <paramref name="directory"/> with its <paramref name="tokenizer"/> (a folder with no
    /// weights will do: the template needs only tokenizer files); <paramref name="eosIds"/> end replies.
    /// </summary>
    public static ChatFormat ForFolder(string directory, ModelTokenizer tokenizer, IReadOnlySet<int> eosIds, string? templateName = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        var templates = ChatTemplates.Load(directory)
            ?? throw new LongLMException($"{directory}: the model has no chat template (tokenizer_config.json has no chat_template and there is no chat_template.jinja); give one with --chat-template FILE");
        if (templateName is not null) templates.Select(templateName, hasTools: false);
        return new ChatFormat(tokenizer, templates, null, templateName, SpecialTokens(tokenizer, templates), eosIds);
    }

    /// <summary>A format with the Jinja template <paramref name="source"/> (a model without one, or an override).</summary>
    /// <exception cref="ChatTemplateException">The template does not parse.</exception>
    public static ChatFormat WithTemplate(LanguageModel model, string source, string origin = "custom template")
    {
        ArgumentNullException.ThrowIfNull(model);
        return WithTemplate(model.Tokenizer, model.StopIds, source, origin, model.Directory);
    }

    /// <summary>
    /// A format with the Jinja template <paramref name="source"/> over <paramref name="tokenizer"/>; the special-token
    /// variables come from <paramref name="directory"/>'s tokenizer_config.json when given, else from the tokenizer.
    /// </summary>
    public static ChatFormat WithTemplate(ModelTokenizer tokenizer, IReadOnlySet<int> eosIds, string source, string origin = "custom template", string? directory = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        var template = ChatTemplate.Parse(source, "default", origin);
        return new ChatFormat(tokenizer, null, template, null, SpecialTokens(tokenizer, directory is null ? null : ChatTemplates.Load(directory)), eosIds);
    }

    /// <summary>
    /// Renders <paramref name="messages"/> (HF's message dicts: role, content, tool_calls ...) with
    /// <paramref name="tools"/>. Every string in them is escaped first, so that text a user typed, such as
    /// "&lt;|eot_id|&gt;", stays text; <see cref="Encode"/> then makes ids of it.
    /// </summary>
    public ChatPrompt Render(JsonArray messages, JsonArray? tools, bool addGenerationPrompt, char? escape = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var template = _fixed ?? _templates!.Select(_name, tools is { Count: > 0 });
        var texts = Strings(messages).Concat(Strings(tools)).Append(template.Source).ToList();
        char mark = escape is char e && !texts.Any(s => s.Contains(e)) ? e : ModelTokenizer.ChooseEscape(texts);
        var input = new ChatTemplateInput
        {
            Messages = (JsonArray)Escape(messages, mark)!,
            Tools = tools is null ? null : (JsonArray)Escape(tools, mark)!,
            AddGenerationPrompt = addGenerationPrompt,
            Variables = Variables,
        };
        return new ChatPrompt(template.Render(input), mark);
    }

    /// <summary>The ids of a rendered prompt: the template's special tokens become their ids, all else is text.</summary>
    public int[] Encode(ChatPrompt prompt) => Tokenizer.EncodeChat(prompt.Text, prompt.Escape);

    /// <summary>A deep copy of <paramref name="node"/> with every string value escaped.</summary>
    private JsonNode? Escape(JsonNode? node, char escape) => node switch
    {
        null => null,
        JsonArray array => new JsonArray(array.Select(n => Escape(n, escape)).ToArray()),
        JsonObject obj => new JsonObject(obj.Select(p => KeyValuePair.Create(p.Key, Escape(p.Value, escape)))),
        JsonValue value when value.GetValueKind() == System.Text.Json.JsonValueKind.String
            => JsonValue.Create(Tokenizer.EscapeSpecialTokens(value.GetValue<string>(), escape)),
        _ => node.DeepClone(),
    };

    private static IEnumerable<string> Strings(JsonNode? node) => node switch
    {
        null => [],
        JsonArray array => array.SelectMany(Strings),
        JsonObject obj => obj.SelectMany(p => Strings(p.Value).Append(p.Key)),
        JsonValue value when value.GetValueKind() == System.Text.Json.JsonValueKind.String => [value.GetValue<string>()],
        _ => [],
    };

    /// <summary>bos_token, eos_token ... from tokenizer_config.json, else from the loaded tokenizer's ids.</summary>
    private static IReadOnlyDictionary<string, JsonNode?> SpecialTokens(ModelTokenizer tokenizer, ChatTemplates? templates)
    {
        var variables = new Dictionary<string, JsonNode?>(templates?.SpecialTokens ?? new Dictionary<string, JsonNode?>());
        if (!variables.ContainsKey("bos_token") && tokenizer.BosId is int bos) variables["bos_token"] = TextOf(tokenizer, bos);
        if (!variables.ContainsKey("eos_token") && tokenizer.EosId is int eos) variables["eos_token"] = TextOf(tokenizer, eos);
        return variables;
    }

    private static string? TextOf(ModelTokenizer tokenizer, int id) =>
        tokenizer.SpecialTokens.FirstOrDefault(p => p.Value == id).Key;
}

/// <summary>A rendered chat prompt and the character that marks escaped user text in it.</summary>
/// <param name="Text">The template's output.</param>
/// <param name="Escape">The escape character (dropped when encoding).</param>
public sealed record ChatPrompt(string Text, char Escape);
