namespace LongLM.Runtime.Chat;

/// <summary>
/// A chat template could not be parsed or rendered (a syntax error, an unsupported construct, a sandbox limit, or the
/// template's own <c>raise_exception(message)</c>). The message names the template, its file when known, and the line.
/// </summary>
public sealed class ChatTemplateException : LongLMException
{
    /// <summary>Creates the error; <paramref name="reason"/> is the bare cause, without the template's name and line.</summary>
    public ChatTemplateException(string templateName, string? origin, int line, int column, string reason, Exception? inner = null)
        : base(Format(templateName, origin, line, column, reason), origin, inner)
    {
        TemplateName = templateName;
        Line = line;
        Column = column;
        Reason = reason;
    }

    /// <summary>The template's name ("default", "tool_use", ...).</summary>
    public string TemplateName { get; }

    /// <summary>1-based line of the template where the error is (0 when unknown).</summary>
    public int Line { get; }

    /// <summary>1-based column (0 when unknown).</summary>
    public int Column { get; }

    /// <summary>The cause alone: for raise_exception, exactly the template's message.</summary>
    public string Reason { get; }

    private static string Format(string name, string? origin, int line, int column, string reason)
    {
        string where = origin is null ? $"chat template '{name}'" : $"chat template '{name}' ({origin})";
        if (line > 0) where += column > 0 ? $", line {line}, column {column}" : $", line {line}";
        return $"{where}: {reason}";
    }
}
