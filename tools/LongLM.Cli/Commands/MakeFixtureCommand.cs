using System.CommandLine;
using LongLM.Kernels;
using LongLM.Models.Fixtures;
using LongLM.Runtime;

namespace LongLM.Cli.Commands;

/// <summary>
/// `longlm make-fixture`: a random-weight model in HF layout (--family llama|mpt|bloom|phi with --shape and --dtype), or a
/// model derived from an existing folder (--family llama-clex|phi-clex --base DIR: the base's weights plus a seeded CLEX layer).
/// </summary>
public static class MakeFixtureCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(CliIO io)
    {
        var family = new Option<string>("--family") { Description = "Model family (llama-clex, phi-clex: a CLEX layer on the --base model of that family)", DefaultValueFactory = _ => "llama" };
        family.AcceptOnlyFromAmong([.. FixtureWriter.Families, .. FixtureWriter.BaseFamilies]);
        string shapes = string.Join("; ", FixtureWriter.Families.Select(f => $"{f}: {string.Join(", ", FixtureShape.NamesOf(f))}"));
        var shape = new Option<string>("--shape") { Description = $"Shape ({shapes})", DefaultValueFactory = _ => "tiny" };
        shape.AcceptOnlyFromAmong([.. FixtureShape.All.Select(s => s.Name).Distinct()]);
        var dtype = new Option<string>("--dtype") { Description = "Stored dtype", DefaultValueFactory = _ => "f32" };
        dtype.AcceptOnlyFromAmong("f32", "f16", "bf16");
        var seed = new Option<ulong>("--seed") { Description = "Seed of the weights", DefaultValueFactory = _ => 1UL };
        var baseModel = new Option<string?>("--base") { Description = "Base model folder (llama-clex: config, tokenizer and weights are copied from it)" };
        var output = new Option<string>("--out", "-o") { Description = "Output folder", Required = true };
        var command = new Command("make-fixture", "Write a random-weight model (config.json, model.safetensors, tokenizer.json)") { family, shape, dtype, seed, baseModel, output };
        command.SetAction(parse => io.Guard(() =>
        {
            var type = parse.GetValue(dtype) switch { "f16" => DType.F16, "bf16" => DType.BF16, _ => DType.F32 };
            string dir = parse.GetValue(output)!;
            if (File.Exists(dir)) throw new LongLMException($"{dir}: exists and is a file");
            string familyName = parse.GetValue(family)!;
            string? baseDir = parse.GetValue(baseModel);
            if (FixtureWriter.BaseFamilies.Contains(familyName))
            {
                if (baseDir is null) throw new LongLMException($"--family {familyName} needs --base DIR (the model to add the CLEX layer to)");
                if (parse.GetResult(shape) is { Implicit: false } || parse.GetResult(dtype) is { Implicit: false })
                    throw new LongLMException($"--family {familyName} takes its shape and dtype from --base; drop --shape and --dtype");
                FixtureWriter.WriteClex(baseDir, parse.GetValue(seed), dir, clexFamily: familyName, paramFactor: familyName == "mixtral-clex" ? 2 : 1); // CLEX-Mixtral: λ = 2
                io.Out.WriteLine($"wrote {dir}");
                return ExitCodes.Ok;
            }
            if (baseDir is not null) throw new LongLMException($"--base applies to --family {string.Join(", ", FixtureWriter.BaseFamilies)} only");
            FixtureWriter.Write(familyName, FixtureShape.Find(familyName, parse.GetValue(shape)!), type, parse.GetValue(seed), dir);
            io.Out.WriteLine($"wrote {dir}");
            return ExitCodes.Ok;
        }));
        return command;
    }
}
