using System.CommandLine;
using LongLM.Kernels;
using LongLM.Runtime;

namespace LongLM.Cli.Commands;

/// <summary>--quantize q8_0|q4_0 and --quantize-output (ModelOptions.Quantize / QuantizeOutput), for every command that loads a model.</summary>
public sealed class QuantizeFlags
{
    /// <summary>The accepted --quantize values, as llama.cpp spells the types.</summary>
    public static readonly string[] Names = ["q8_0", "q4_0"];

    private readonly Option<string?> _quantize = new("--quantize") { Description = $"Quantize the linear weights at load: {string.Join(" or ", Names)} (every backend; embeddings, norms, biases and the output head stay as stored)" };
    private readonly Option<bool> _output = new("--quantize-output") { Description = "With --quantize, also quantize the output head (a tied head quantizes the embedding table it shares)" };

    /// <summary>Adds the flags to <paramref name="command"/>.</summary>
    public QuantizeFlags(Command command)
    {
        command.Options.Add(_quantize);
        command.Options.Add(_output);
    }

    /// <summary><paramref name="options"/> with the flags applied.</summary>
    /// <exception cref="LongLMException">A value other than q8_0/q4_0, or --quantize-output without --quantize.</exception>
    public ModelOptions Apply(ParseResult parse, ModelOptions options)
    {
        // Parsed here rather than with AcceptOnlyFromAmong so that a bad value is one LongLMException (exit 2) naming the accepted values.
        DType? type = parse.GetValue(_quantize) switch
        {
            null => null,
            var s when s.Equals("q8_0", StringComparison.OrdinalIgnoreCase) => DType.Q8_0,
            var s when s.Equals("q4_0", StringComparison.OrdinalIgnoreCase) => DType.Q4_0,
            var s => throw new LongLMException($"--quantize '{CliIO.Escape(s)}': accepted values are {string.Join(", ", Names)}"),
        };
        bool output = parse.GetValue(_output);
        if (output && type is null) throw new LongLMException("--quantize-output needs --quantize q8_0 or q4_0");
        return options with { Quantize = type, QuantizeOutput = output };
    }
}
