using System.CommandLine;
using LongLM.Cli.Commands;

namespace LongLM.Cli;

/// <summary>`longlm`: generate, score and inspect Hugging Face models on the LongLM runtime.</summary>
public static class Program
{
    /// <summary>Process entry point.</summary>
    public static int Main(string[] args)
    {
        // A piped prompt is read as strict UTF-8 whatever the console's code page (invalid bytes are an error, not U+FFFD).
        bool piped = Console.IsInputRedirected;
        using var stdin = piped ? new StreamReader(Console.OpenStandardInput(), new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true)) : null;
        return Run(args, stdin ?? Console.In, piped, Console.Out, Console.Error, stderrIsTerminal: !Console.IsErrorRedirected);
    }

    /// <summary>Runs the command line with explicit output streams and no standard input (tests call this in-process).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) => Run(args, TextReader.Null, false, stdout, stderr);

    /// <summary>
    /// Runs the command line with explicit streams. <paramref name="stdinRedirected"/>: <paramref name="stdin"/> is a
    /// pipe or file (generate without a prompt reads it); <paramref name="stderrIsTerminal"/>: progress may be drawn on
    /// <paramref name="stderr"/>.
    /// </summary>
    public static int Run(string[] args, TextReader stdin, bool stdinRedirected, TextWriter stdout, TextWriter stderr, bool stderrIsTerminal = false)
    {
        var io = new CliIO(stdout, stderr, args.Contains("--verbose"), stdin, stdinRedirected, stderrIsTerminal);
        var root = new RootCommand("LongLM: run Hugging Face language models far beyond their trained context, on CPU or GPU.")
        {
            GenerateCommand.Create(io),
            ChatCommand.Create(io),
            ServeCommand.Create(io),
            LogitsCommand.Create(io),
            TokenizeCommand.Create(io),
            InfoCommand.Create(io),
            MakeFixtureCommand.Create(io),
            PplCommand.Create(io),
            PasskeyCommand.Create(io),
            ContinueEvalCommand.Create(io),
            BenchCommand.Create(io),
            ChatTemplateCommand.Create(io),
        };
        root.Options.Add(CliIO.Verbose);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // One line, exit 2: the convention for a usage error.
            io.Error(parse.Errors[0].Message + " (see longlm --help)");
            return ExitCodes.UsageError;
        }
        return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
    }
}
