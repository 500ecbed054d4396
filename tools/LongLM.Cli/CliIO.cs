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

    /// <summary>
    /// A UTF-8 text file the user named (a prompt, a chat template, a saved conversation): strict UTF-8, a BOM dropped,
    /// at most <paramref name="maxBytes"/> read even when the file's length lies (a growing file, a device).
    /// </summary>
    /// <exception cref="LongLMException">Missing, too large or not UTF-8; the message names <paramref name="what"/>.</exception>
    public static string ReadTextFile(string path, int maxBytes, string what, string hint = "")
    {
        if (!File.Exists(path)) throw new LongLMException($"{path}: {what} not found", path);
        using var stream = File.OpenRead(path);
        if (stream.CanSeek && stream.Length > maxBytes) throw TooLarge(path, stream.Length, maxBytes, what, hint);
        var bytes = new byte[(int)Math.Min(maxBytes + 1L, stream.CanSeek ? stream.Length + 1 : maxBytes + 1L)];
        int total = 0, read;
        while (total < bytes.Length && (read = stream.Read(bytes, total, bytes.Length - total)) > 0) total += read;
        if (total > maxBytes) throw TooLarge(path, null, maxBytes, what, hint);
        var span = bytes.AsSpan(0, total);
        if (span.StartsWith(System.Text.Encoding.UTF8.Preamble)) span = span[3..];
        try
        {
            return new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true).GetString(span);
        }
        catch (System.Text.DecoderFallbackException)
        {
            throw new LongLMException($"{path}: the {what} is not valid UTF-8", path);
        }
    }

    private static LongLMException TooLarge(string path, long? length, int maxBytes, string what, string hint) =>
        new($"{path}: {(length is long n ? $"{n} bytes" : "the file")} is over the {maxBytes >> 20} MiB ({maxBytes} bytes) {what} limit{hint}", path);

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
