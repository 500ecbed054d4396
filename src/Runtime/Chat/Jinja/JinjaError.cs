namespace LongLM.Runtime.Chat.Jinja;

/// <summary>A parse or render error at a template position; ChatTemplate turns it into ChatTemplateException.</summary>
internal class JinjaError(string message, int line = 0, int column = 0) : Exception(message)
{
    public int Line { get; set; } = line;
    public int Column { get; set; } = column;
}

/// <summary>The template called raise_exception(message): Jinja's TemplateError, as transformers defines it.</summary>
internal sealed class TemplateRaisedError(string message) : JinjaError(message);

/// <summary>A sandbox bound (steps, output, recursion) was reached.</summary>
internal sealed class SandboxLimitError(string message) : JinjaError(message);
