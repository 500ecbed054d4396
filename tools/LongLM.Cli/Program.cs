using System.CommandLine;
using LongLM.Cli.Commands;

namespace LongLM.Cli;

/// <summary>`longlm`: generate, score and inspect Hugging Face models on the LongLM runtime.</summary>
public static class Program
{
    /// <summary>Process entry point.</summary>
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>Runs the command line with explicit streams (tests call this in-process).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var io = new CliIO(stdout, stderr, args.Contains("--verbose"));
        var root = new RootCommand("LongLM: run Hugging Face language models far beyond their trained context, on CPU or GPU.")
        {
            GenerateCommand.Create(io),
            LogitsCommand.Create(io),
            TokenizeCommand.Create(io),
            InfoCommand.Create(io),
            MakeFixtureCommand.Create(io),
            PplCommand.Create(io),
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
