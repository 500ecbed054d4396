using System.CommandLine;
using LongLM.Runtime;

namespace LongLM.Cli;

/// <summary>Streams and the error policy shared by every command.</summary>
/// <param name="stdout">Standard output.</param>
/// <param name="stderr">Standard error.</param>
/// <param name="verbose">--verbose was given.</param>
/// <param name="stdin">Standard input (null: none, as <see cref="TextReader.Null"/>).</param>
/// <param name="stdinRedirected">Standard input is a pipe or a file, not a terminal (a prompt may come from it).</param>
/// <param name="stderrIsTerminal">Standard error is a terminal a person watches: progress may be drawn there.</param>
public sealed class CliIO(TextWriter stdout, TextWriter stderr, bool verbose, TextReader? stdin = null, bool stdinRedirected = false, bool stderrIsTerminal = false)
{
    /// <summary>--verbose: stack traces on errors.</summary>
    public static readonly Option<bool> Verbose = new("--verbose") { Description = "Show stack traces on errors", Recursive = true };

    /// <summary>Standard output.</summary>
    public TextWriter Out { get; } = stdout;

    /// <summary>Standard error.</summary>
    public TextWriter Err { get; } = stderr;

    /// <summary>Standard input.</summary>
    public TextReader In { get; } = stdin ?? TextReader.Null;

    /// <summary>Standard input is redirected (a pipe or a file): with no prompt given, generate reads it.</summary>
    public bool InRedirected { get; } = stdinRedirected;

    /// <summary>
    /// Progress bars and spinners may be drawn on <see cref="Err"/>: it is a terminal. False whenever stderr is
    /// redirected (pipes, files, tests' captured streams), so those only ever see clean lines.
    /// </summary>
    public bool ShowProgress { get; } = stderrIsTerminal;

    /// <summary>--verbose was given.</summary>
    public bool IsVerbose { get; } = verbose;

    /// <summary>
    /// Writes one error line (multi-line messages, such as a list of allowed values, are folded). Messages quote values
    /// from model files, so what is left is <see cref="Escape"/>d.
    /// </summary>
    public void Error(string message) =>
        Err.WriteLine("longlm: error: " + Escape(string.Join(' ', message.Split(['\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))));

    /// <summary>
    /// Text from a model file made safe for a terminal: control characters (C0, DEL, C1: ESC sequences recolour,
    /// retitle or clear the screen, BEL rings, NUL truncates) and the bidirectional overrides and isolates (which
    /// reorder what is shown) become \uXXXX escapes. Everything else, non-ASCII letters included, is kept.
    /// </summary>
    public static string Escape(string text)
    {
        if (!text.Any(NeedsEscape)) return text;
        var escaped = new System.Text.StringBuilder(text.Length + 16);
        foreach (char c in text)
        {
            if (NeedsEscape(c)) escaped.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            else escaped.Append(c);
        }
        return escaped.ToString();
    }

    /// <summary>--verbose: the exception with its stack trace, line by line (a message may quote a model file).</summary>
    private void Trace(Exception e)
    {
        foreach (string line in e.ToString().Split('\n')) Err.WriteLine(Escape(line.TrimEnd('\r')));
    }

    private static bool NeedsEscape(char c) => char.IsControl(c) || c is >= '\u202A' and <= '\u202E' or >= '\u2066' and <= '\u2069';

    /// <summary>
    /// Runs a command body: input problems (LongLMException, missing files, bad arguments) are one line and
    /// exit 2; anything else is a bug, reported as such with exit 1. Stack traces only with --verbose.
    /// </summary>
    public int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is LongLMException or IOException or UnauthorizedAccessException or ArgumentException or FormatException)
        {
            Error(e.Message);
            if (IsVerbose) Trace(e);
            return ExitCodes.UsageError;
        }
        catch (OutOfMemoryException e)
        {
            Error($"out of memory ({e.Message})");
            return ExitCodes.InternalError;
        }
        catch (Exception e)
        {
            Error($"internal error: {e.GetType().Name}: {e.Message}");
            if (IsVerbose) Trace(e);
            return ExitCodes.InternalError;
        }
    }
}
