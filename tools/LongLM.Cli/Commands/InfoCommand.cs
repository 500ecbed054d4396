using System.CommandLine;
using System.Text.Json;
using LongLM.Kernels;
using LongLM.Models;
using LongLM.Runtime;
using LongLM.Runtime.Rope;

namespace LongLM.Cli.Commands;

/// <summary>`longlm info`: what a model folder holds.</summary>
public static class InfoCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(CliIO io)
    {
        var model = CommonOptions.Model();
        var json = CommonOptions.Json();
        var checkWeights = CommonOptions.CheckWeights();
        var command = new Command("info", "Describe a model: architecture, sizes, parameters, dtype, context, positions (RoPE or ALiBi), tokenizer") { model, json, checkWeights };
        var quantize = new QuantizeFlags(command);
        command.SetAction(parse => io.Guard(() =>
        {
            using var lm = LanguageModel.Load(parse.GetValue(model)!, "cpu", quantize.Apply(parse, new ModelOptions { CheckWeights = parse.GetValue(checkWeights) }));
            var c = lm.Config;
            var dtypes = lm.Weights.Files.SelectMany(f => f.Tensors.Values).Select(t => t.DType.ToString()).Distinct().Order().ToArray();
            // Tensors per dtype as loaded, after --quantize ("F32:9,Q8_0:14"); the stored dtypes are "dtype" above.
            string? loadedDtypes = lm.Model is DecoderModel decoder
                ? string.Join(",", decoder.LoadedWeights.GroupBy(w => w.DType).OrderBy(g => g.Key).Select(g => $"{g.Key.SafeTensorsName()}:{g.Count()}"))
                : null;
            // ALiBi models (MPT, BLOOM) have no rotary embedding: the RoPE fields are left empty for them.
            string positions = ModelRegistry.PositionalEncodingOf(c);
            var scaling = positions == "rope" ? RopeScaling.Create(c, lm.Weights) : null;
            // Length-dependent methods are shown at the trained length; CLEX adds its table per t below.
            var rope = scaling?.Compute(c.MaxPositionEmbeddings);
            var info = new Dictionary<string, object?>
            {
                ["architecture"] = c.Architectures.FirstOrDefault() ?? c.ModelType,
                ["family"] = ModelRegistry.FamilyOf(c),
                ["model_type"] = c.ModelType,
                ["hidden_size"] = c.HiddenSize,
                ["intermediate_size"] = c.IntermediateSize,
                ["num_hidden_layers"] = c.NumHiddenLayers,
                ["num_attention_heads"] = c.NumAttentionHeads,
                ["num_key_value_heads"] = c.NumKeyValueHeads,
                ["head_dim"] = c.HeadDim,
                ["vocab_size"] = c.VocabSize,
                ["parameters"] = lm.ParameterCount,
                ["dtype"] = string.Join(",", dtypes),
                ["loaded_dtypes"] = loadedDtypes,
                ["torch_dtype"] = c.TorchDtype,
                ["trained_context"] = c.MaxPositionEmbeddings,
                ["tie_word_embeddings"] = c.TieWordEmbeddings,
                ["positional_encoding"] = positions,
                ["rope_theta"] = rope is null ? null : c.RopeTheta,
                ["rotary_dim"] = rope is null ? null : c.RotaryDim,
                ["rope_scaling"] = rope is null ? null : c.RopeScaling?.Type ?? "none",
                ["rope_scaling_factor"] = c.RopeScaling?.Factor,
                ["rope_scaling_depends_on_length"] = scaling?.DependsOnLength,
                ["rope_attention_factor"] = rope?.AttentionFactor,
                ["inv_freq"] = rope?.InverseFrequencies,
                ["sliding_window"] = c.SlidingWindow,
                ["tokenizer"] = lm.Tokenizer.Kind,
                ["tokenizer_vocab"] = lm.Tokenizer.VocabSize,
                ["bos_token_id"] = lm.Tokenizer.BosId,
                ["eos_token_ids"] = lm.StopIds.Order().ToArray(),
                ["add_bos"] = lm.Tokenizer.AddBos,
            };
            if (scaling is ClexRope clex)
            {
                info["clex_max_factor"] = clex.MaxFactor;
                info["clex_max_length"] = clex.MaxLength;
                info["clex_activation"] = clex.Activation.ToString().ToLowerInvariant();
                info["clex_time_dt"] = clex.TimeDt;
                info["clex_log_scale"] = clex.LogScaleInConfig;
                // theta_k(t) for every integer t: what the ODE produced at load (t = 1 is the stored inv_freq).
                info["clex_inv_freq_by_t"] = Enumerable.Range(1, clex.MaxFactor).ToDictionary(t => t.ToString(), clex.Frequencies);
            }
            if (parse.GetValue(json))
            {
                io.Out.WriteLine(JsonSerializer.Serialize(info, new JsonSerializerOptions { WriteIndented = true }));
            }
            else
            {
                // Architecture, model_type and torch_dtype are the file's own strings: escaped for the terminal.
                static string Text(object? value) => CliIO.Escape(value switch
                {
                    null => "-",
                    Array a => string.Join(",", a.Cast<object>().Select(v => v is double or float ? $"{v:G6}" : v.ToString())),
                    _ => value.ToString() ?? "-",
                });
                foreach (var (key, value) in info)
                {
                    if (value is Dictionary<string, float[]> table)
                        foreach (var (t, row) in table) io.Out.WriteLine($"{key + "[t=" + t + "]",-22} {Text(row)}");
                    else
                        io.Out.WriteLine($"{key,-22} {Text(value)}");
                }
            }
            return ExitCodes.Ok;
        }));
        return command;
    }
}
