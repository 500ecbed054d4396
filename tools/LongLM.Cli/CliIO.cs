using System.CommandLine;
using LongLM.Runtime;

namespace LongLM.Cli;

/// <summary>Output streams and the error policy shared by every command.</summary>
public sealed class CliIO(TextWriter stdout, TextWriter stderr, bool verbose)
{
    /// <summary>--verbose: stack traces on errors.</summary>
    public static readonly Option<bool> Verbose = new("--verbose") { Description = "Show stack traces on errors", Recursive = true };

    /// <summary>Standard output.</summary>
    public TextWriter Out { get; } = stdout;

    /// <summary>Standard error.</summary>
    public TextWriter Err { get; } = stderr;

    /// <summary>Writes one error line (multi-line messages, such as a list of allowed values, are folded).</summary>
    public void Error(string message) =>
        Err.WriteLine("longlm: error: " + string.Join(' ', message.Split(['\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)));

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
            if (verbose) Err.WriteLine(e);
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
            if (verbose) Err.WriteLine(e);
            return ExitCodes.InternalError;
        }
    }
}
