using LongLM.Runtime.Chat.Jinja;

namespace LongLM.Runtime.Chat;

/// <summary>
/// A parsed Hugging Face chat template: a sandboxed interpreter of the Jinja subset chat templates use, configured like
/// transformers' apply_chat_template (trim_blocks, lstrip_blocks, loop controls, {% generation %}, its tojson,
/// raise_exception and strftime_now). Renders are bounded in steps, output size and recursion (see docs/chat-templates.md).
/// </summary>
public sealed class ChatTemplate
{
    /// <summary>The longest template accepted, in characters.</summary>
    public const int MaxSourceChars = 1024 * 1024;

    private static readonly string[] ReservedVariables = ["messages", "tools", "documents", "add_generation_prompt"];

    private readonly IReadOnlyList<Node> _body;
    private readonly SandboxLimits _limits;

    private ChatTemplate(string source, string name, string? origin, IReadOnlyList<Node> body, SandboxLimits limits)
    {
        Source = source;
        Name = name;
        Origin = origin;
        _body = body;
        _limits = limits;
    }

    /// <summary>The template's name ("default", "tool_use", ...).</summary>
    public string Name { get; }

    /// <summary>The Jinja text.</summary>
    public string Source { get; }

    /// <summary>The file the template came from, when known (it is named in error messages).</summary>
    public string? Origin { get; }

    /// <summary>Parses <paramref name="source"/>; throws <see cref="ChatTemplateException"/> naming the line of a syntax error.</summary>
    /// <param name="source">The Jinja text.</param>
    /// <param name="name">The template's name, for messages.</param>
    /// <param name="origin">The file it came from, for messages.</param>
    public static ChatTemplate Parse(string source, string name = "default", string? origin = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(name);
        return Parse(source, name, origin, SandboxLimits.Default);
    }

    internal static ChatTemplate Parse(string source, string name, string? origin, SandboxLimits limits)
    {
        if (source.Length > MaxSourceChars)
            throw new ChatTemplateException(name, origin, 0, 0, $"the template has {source.Length} characters; at most {MaxSourceChars} are accepted");
        try
        {
            return new ChatTemplate(source, name, origin, Parser.Parse(source, limits), limits);
        }
        catch (JinjaError e)
        {
            throw new ChatTemplateException(name, origin, e.Line, e.Column, e.Message, e);
        }
    }

    /// <summary>
    /// Renders the prompt. Thread-safe: the parsed template is immutable and each call has its own state. Throws
    /// <see cref="ChatTemplateException"/> for the template's raise_exception, a runtime error or a sandbox limit.
    /// </summary>
    public string Render(ChatTemplateInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var variables = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (key, value) in input.Variables)
        {
            if (ReservedVariables.Contains(key))
                throw new LongLMException($"chat template variable '{key}' is set by ChatTemplateInput itself, not by Variables");
            variables[key] = JsonInput.FromJson(value);
        }
        variables["messages"] = JsonInput.FromJson(input.Messages);
        variables["tools"] = input.Tools is null ? null : JsonInput.FromJson(input.Tools);
        variables["documents"] = input.Documents is null ? null : JsonInput.FromJson(input.Documents);
        variables["add_generation_prompt"] = input.AddGenerationPrompt;

        var renderer = new Renderer(_limits, variables, input.Now);
        try
        {
            return renderer.Render(_body);
        }
        catch (JinjaError e)
        {
            var at = renderer.Current;
            int line = e.Line > 0 ? e.Line : at?.Line ?? 0, column = e.Line > 0 ? e.Column : at?.Column ?? 0;
            throw new ChatTemplateException(Name, Origin, line, column, e.Message, e);
        }
        catch (InsufficientExecutionStackException e)
        {
            var at = renderer.Current;
            throw new ChatTemplateException(Name, Origin, at?.Line ?? 0, at?.Column ?? 0, "the template nests too deeply (sandbox limit)", e);
        }
    }
}
