using System.Text.Json;
using LongLM.Kernels;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Models.Fixtures;

/// <summary>
/// Random-weight HF MixtralForCausalLM folders (MixtralConfig names, as mistralai/Mixtral-8x7B-v0.1's config.json
/// spells them): 8 experts, top-2, rope_theta 1e6. Shape "tiny-window" sets sliding_window 16, "tiny" leaves it null.
/// Values from SplitMix64(seed) in the order the tensors are written: Uniform(-a, a) for projections, embeddings and
/// the router, 1 + Uniform(-0.1, 0.1) for norm weights.
/// </summary>
internal static class MixtralFixture
{
    /// <summary>Experts per layer and experts per token of every Mixtral fixture.</summary>
    public const int Experts = 8, PerToken = 2;

    /// <summary>sliding_window of shape <paramref name="shape"/> (null: none).</summary>
    public static int? SlidingWindow(FixtureShape shape) => shape.Name.EndsWith("-window", StringComparison.Ordinal) ? 16 : null;

    public static void Write(FixtureShape s, DType dtype, ulong seed, string directory)
    {
        int headDim = s.Hidden / s.Heads, eos = ByteLevelBpeFixture.EndOfTextId(s.Vocab);
        var config = new Dictionary<string, object?>
        {
            ["architectures"] = new[] { "MixtralForCausalLM" },
            ["model_type"] = "mixtral",
            ["hidden_size"] = s.Hidden,
            ["intermediate_size"] = s.Intermediate,
            ["num_hidden_layers"] = s.Layers,
            ["num_attention_heads"] = s.Heads,
            ["num_key_value_heads"] = s.KvHeads,
            ["head_dim"] = headDim,
            ["num_local_experts"] = Experts,
            ["num_experts_per_tok"] = PerToken,
            ["vocab_size"] = s.Vocab,
            ["max_position_embeddings"] = s.Context,
            ["rms_norm_eps"] = 1e-5,
            ["rope_theta"] = 1e6,
            ["sliding_window"] = SlidingWindow(s),
            ["hidden_act"] = "silu",
            ["tie_word_embeddings"] = s.Tied,
            ["router_aux_loss_coef"] = 0.02,
            ["output_router_logits"] = false,
            ["router_jitter_noise"] = 0.0,
            ["bos_token_id"] = eos,
            ["eos_token_id"] = eos,
            ["torch_dtype"] = FixtureValues.TorchDtype(dtype),
        };
        FixtureValues.WriteConfig(directory, config);

        var values = new FixtureValues(seed);
        long q = (long)s.Heads * headDim, kv = (long)s.KvHeads * headDim;
        var writer = new SafeTensorsWriter();
        writer.Add("model.embed_tokens.weight", dtype, [s.Vocab, s.Hidden], values.Uniform(0.5f));
        for (int l = 0; l < s.Layers; l++)
        {
            string p = $"model.layers.{l}.", m = p + "block_sparse_moe.";
            writer.Add(p + "input_layernorm.weight", dtype, [s.Hidden], values.NearOne);
            writer.Add(p + "self_attn.q_proj.weight", dtype, [q, s.Hidden], values.Uniform(0.2f));
            writer.Add(p + "self_attn.k_proj.weight", dtype, [kv, s.Hidden], values.Uniform(0.2f));
            writer.Add(p + "self_attn.v_proj.weight", dtype, [kv, s.Hidden], values.Uniform(0.2f));
            writer.Add(p + "self_attn.o_proj.weight", dtype, [s.Hidden, q], values.Uniform(0.1f));
            writer.Add(p + "post_attention_layernorm.weight", dtype, [s.Hidden], values.NearOne);
            // Router weights large enough that the top-2 / top-3 gaps are wide (no golden row near a routing tie).
            writer.Add(m + "gate.weight", dtype, [Experts, s.Hidden], values.Uniform(0.5f));
            for (int e = 0; e < Experts; e++)
            {
                writer.Add($"{m}experts.{e}.w1.weight", dtype, [s.Intermediate, s.Hidden], values.Uniform(0.1f));
                writer.Add($"{m}experts.{e}.w2.weight", dtype, [s.Hidden, s.Intermediate], values.Uniform(0.1f));
                writer.Add($"{m}experts.{e}.w3.weight", dtype, [s.Intermediate, s.Hidden], values.Uniform(0.1f));
            }
        }
        writer.Add("model.norm.weight", dtype, [s.Hidden], values.NearOne);
        if (!s.Tied) writer.Add("lm_head.weight", dtype, [s.Vocab, s.Hidden], values.Uniform(0.1f));
        writer.Write(Path.Combine(directory, WeightStore.SingleFile), new Dictionary<string, string> { ["format"] = "pt", ["longlm_fixture"] = $"mixtral/{s.Name}/seed={seed}" });
    }
}
