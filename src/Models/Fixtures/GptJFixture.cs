using System.Text.Json;
using LongLM.Kernels;
using LongLM.Runtime;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Models.Fixtures;

/// <summary>
/// Random-weight GPT-J checkpoints (HF GPTJForCausalLM names; config.json spelled as EleutherAI/gpt-j-6b's: n_embd,
/// n_head, n_layer, n_positions, rotary_dim, n_inner, activation_function). rotary_dim is head_dim / 2, so a runtime
/// that rotates the whole head (or none of it) fails; n_inner is written null when it is GPTJConfig's 4 * n_embd
/// default, as in gpt-j-6b. The head is untied and has a bias, as in every GPT-J checkpoint.
/// </summary>
internal static class GptJFixture
{
    /// <summary>Writes config.json and model.safetensors of <paramref name="s"/> into <paramref name="directory"/>.</summary>
    public static void Write(FixtureShape s, DType dtype, ulong seed, string directory)
    {
        if (s.KvHeads != s.Heads) throw new LongLMException("GPT-J has multi-head attention only: KvHeads must equal Heads");
        int headDim = s.Hidden / s.Heads, rotaryDim = headDim / 2, eos = ByteLevelBpeFixture.EndOfTextId(s.Vocab);
        if (rotaryDim % 2 != 0) throw new LongLMException($"GPT-J fixtures rotate head_dim / 2 = {rotaryDim} dims, which must be even");
        var config = new Dictionary<string, object?>
        {
            ["architectures"] = new[] { "GPTJForCausalLM" },
            ["model_type"] = "gptj",
            ["n_embd"] = s.Hidden,
            ["n_head"] = s.Heads,
            ["n_layer"] = s.Layers,
            ["n_positions"] = s.Context,
            ["rotary_dim"] = rotaryDim,
            ["n_inner"] = s.Intermediate == 4 * s.Hidden ? null : s.Intermediate,
            ["activation_function"] = "gelu_new",
            ["layer_norm_epsilon"] = 1e-5,
            ["vocab_size"] = s.Vocab,
            ["tie_word_embeddings"] = s.Tied,
            ["bos_token_id"] = eos,
            ["eos_token_id"] = eos,
            ["torch_dtype"] = FixtureValues.TorchDtype(dtype),
        };
        FixtureValues.WriteConfig(directory, config);

        var values = new FixtureValues(seed);
        long d = s.Hidden, inner = s.Intermediate;
        var writer = new SafeTensorsWriter();
        writer.Add("transformer.wte.weight", dtype, [s.Vocab, d], values.Uniform(0.5f));
        for (int l = 0; l < s.Layers; l++)
        {
            string p = $"transformer.h.{l}.";
            writer.Add(p + "ln_1.weight", dtype, [d], values.NearOne);
            writer.Add(p + "ln_1.bias", dtype, [d], values.Uniform(0.1f));
            writer.Add(p + "attn.q_proj.weight", dtype, [d, d], values.Uniform(0.2f));
            writer.Add(p + "attn.k_proj.weight", dtype, [d, d], values.Uniform(0.2f));
            writer.Add(p + "attn.v_proj.weight", dtype, [d, d], values.Uniform(0.2f));
            writer.Add(p + "attn.out_proj.weight", dtype, [d, d], values.Uniform(0.1f));
            writer.Add(p + "mlp.fc_in.weight", dtype, [inner, d], values.Uniform(0.1f));
            writer.Add(p + "mlp.fc_in.bias", dtype, [inner], values.Uniform(0.1f));
            writer.Add(p + "mlp.fc_out.weight", dtype, [d, inner], values.Uniform(0.1f));
            writer.Add(p + "mlp.fc_out.bias", dtype, [d], values.Uniform(0.1f));
        }
        writer.Add("transformer.ln_f.weight", dtype, [d], values.NearOne);
        writer.Add("transformer.ln_f.bias", dtype, [d], values.Uniform(0.1f));
        if (!s.Tied) writer.Add("lm_head.weight", dtype, [s.Vocab, d], values.Uniform(0.1f));
        writer.Add("lm_head.bias", dtype, [s.Vocab], values.Uniform(0.1f));
        writer.Write(Path.Combine(directory, WeightStore.SingleFile), new Dictionary<string, string> { ["format"] = "pt", ["longlm_fixture"] = $"gptj/{s.Name}/seed={seed}" });
    }
}
