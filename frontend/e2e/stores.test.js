// Models other tools downloaded, in the real server's list, and a chat run:
// a fake Hugging Face hub cache, ollama folder and LM Studio folder are laid
// out in the server's (temporary) home where those tools keep them, the way
// they lay them out; the Live view lists them by store, and a run of the
// hub model with Chat on shows both prompts in the analysis.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, newPage, repoRoot, runCLI, screenshot, startServer } from './harness.js';

const T = { timeout: 60000 };
let server, browser, page;
const errors = [];

// hubRepo stores files as huggingface_hub does: bytes in blobs/ by hash,
// the snapshot's entries as links ../../blobs/HASH, refs/main naming it.
function hubRepo(hub, repo, commit, files) {
  const dir = join(hub, `models--${repo.replaceAll('/', '--')}`);
  mkdirSync(join(dir, 'snapshots', commit), { recursive: true });
  mkdirSync(join(dir, 'blobs'), { recursive: true });
  mkdirSync(join(dir, 'refs'), { recursive: true });
  for (const [name, data] of Object.entries(files)) {
    const hash = createHash('sha256').update(data).digest('hex');
    writeFileSync(join(dir, 'blobs', hash), data);
    symlinkSync(join('..', '..', 'blobs', hash), join(dir, 'snapshots', commit, name));
  }
  writeFileSync(join(dir, 'refs', 'main'), commit);
  return dir;
}

// ollamaModel writes a manifest and its blobs as ollama does.
function ollamaModel(root, parts, fileType, gguf) {
  const blob = (data) => {
    const hex = createHash('sha256').update(data).digest('hex');
    mkdirSync(join(root, 'blobs'), { recursive: true });
    writeFileSync(join(root, 'blobs', `sha256-${hex}`), data);
    return { digest: `sha256:${hex}`, size: data.length };
  };
  const config = blob(Buffer.from(JSON.stringify({ model_format: 'gguf', model_family: 'llama', file_type: fileType })));
  const model = blob(gguf);
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.ollama.image.model', ...model }],
  };
  mkdirSync(join(root, 'manifests', ...parts.slice(0, -1)), { recursive: true });
  writeFileSync(join(root, 'manifests', ...parts), JSON.stringify(manifest));
}

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  page = await newPage(browser, errors);
  const health = await (await fetch(server.url + '/api/health')).json();
  const demo = join(health.models_dir, 'demo-15m-gqa');
  if (!existsSync(join(demo, 'config.json'))) await runCLI(server, ['models', 'demo']);
  const read = (f) => readFileSync(join(demo, f));

  // The hub cache at its default place, ~/.cache/huggingface/hub.
  const hub = join(server.home, '.cache', 'huggingface', 'hub');
  const template = readFileSync(join(repoRoot, 'backend', 'chat', 'testdata', 'templates', 'qwen2.5.jinja'), 'utf8');
  hubRepo(hub, 'Qwen/Qwen2.5-0.5B-Instruct', '7ae557604adf67be50417f59c2c2f167def9a775', {
    'config.json': read('config.json'), 'generation_config.json': read('generation_config.json'),
    'tokenizer.json': read('tokenizer.json'), 'model.safetensors': read('model.safetensors'),
    'tokenizer_config.json': Buffer.from(JSON.stringify({ chat_template: template, eos_token: '<|end_of_text|>', bos_token: null })),
  });
  const partial = hubRepo(hub, 'meta-llama/Llama-3.2-1B-Instruct', '9213176726f574b556790deb65791e0c5aa438b6', {
    'config.json': read('config.json'), 'tokenizer.json': read('tokenizer.json'),
  });
  writeFileSync(join(partial, 'blobs', '68a2e4be.incomplete'), 'half a download');

  // ollama and LM Studio at their default places, with small GGUF files
  // made by llama.cpp's own tools (the model package's fixtures).
  const fixtures = join(repoRoot, 'backend', 'model', 'testdata', 'gguf', 'models');
  ollamaModel(join(server.home, '.ollama', 'models'), ['registry.ollama.ai', 'library', 'llama3.2', '1b'], 'Q4_K_M', readFileSync(join(fixtures, 'fx-llama-Q4_K_M.gguf')));
  const lms = join(server.home, '.lmstudio', 'models', 'lmstudio-community', 'Qwen2.5-0.5B-Instruct-GGUF');
  mkdirSync(lms, { recursive: true });
  copyFileSync(join(fixtures, 'fx-qwen2-Q5_K_M.gguf'), join(lms, 'Qwen2.5-0.5B-Instruct-Q5_K_M.gguf'));
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the models list shows the stores, read in place', async () => {
  const { models } = await (await fetch(server.url + '/api/profiling/models')).json();
  const byName = Object.fromEntries(models.map((m) => [m.name, m]));
  const qwen = byName['hf:Qwen/Qwen2.5-0.5B-Instruct'];
  assert.equal(qwen?.source, 'huggingface');
  assert.equal(qwen.complete, true);
  assert.equal(qwen.quantization, 'BF16');
  assert.ok(qwen.size_bytes > 0);
  const llama = byName['hf:meta-llama/Llama-3.2-1B-Instruct'];
  assert.equal(llama?.complete, false);
  assert.match(llama.note, /model\.safetensors/);
  assert.equal(byName['ollama:llama3.2:1b']?.source, 'ollama');
  assert.equal(byName['ollama:llama3.2:1b'].quantization, 'Q4_K_M');
  const lmstudio = byName['lmstudio:lmstudio-community/Qwen2.5-0.5B-Instruct-GGUF/Qwen2.5-0.5B-Instruct-Q5_K_M.gguf'];
  assert.equal(lmstudio?.source, 'lmstudio');
  assert.equal(lmstudio.quantization, 'Q5_K_M', 'read from the GGUF header');
  assert.equal(lmstudio.error, undefined);
  assert.equal(byName['ollama:llama3.2:1b'].error, undefined);

  await page.goto(server.url + '/#/live');
  const select = page.getByLabel('Model');
  await select.locator('option').first().waitFor({ state: 'attached', ...T });
  const groups = await select.locator('optgroup').evaluateAll((gs) => gs.map((g) => g.label));
  assert.deepEqual(groups.filter((g) => g !== 'Models folder'), ['Hugging Face cache', 'Ollama', 'LM Studio']);
  assert.equal(await select.locator('option[value="hf:meta-llama/Llama-3.2-1B-Instruct"]').isDisabled(), true, 'an unfinished download cannot be picked');
  await select.selectOption('hf:Qwen/Qwen2.5-0.5B-Instruct');
  await page.getByText('from Hugging Face cache · safetensors · BF16').waitFor(T);
  await page.getByLabel(/Chat: format as a user message/).check();
  // Show the whole list (a closed <select> shows one line) for the screenshot.
  // Show the whole list, as wide as its names (a closed <select> shows
  // one line), for the screenshot.
  await select.evaluate((s) => {
    s.setAttribute('size', String(s.querySelectorAll('option, optgroup').length));
    Object.assign(s.style, { width: '44rem', position: 'relative', zIndex: '5', background: 'var(--panel, #fff)' });
  });
  await screenshot(page, 'stores-live-model-list');
  await select.evaluate((s) => {
    s.removeAttribute('size');
    s.removeAttribute('style');
  });
});

test('a chat run of a hub-cache model keeps both prompts', async () => {
  await page.goto(server.url + '/#/live');
  const select = page.getByLabel('Model');
  await select.locator('option').first().waitFor({ state: 'attached', ...T });
  await select.selectOption('hf:Qwen/Qwen2.5-0.5B-Instruct');
  await page.getByLabel('Prompt').fill('What is 2+2?');
  await page.getByLabel('Max tokens').fill('6');
  await page.getByLabel(/Chat: format as a user message/).check();
  await page.getByRole('button', { name: 'Start profiling', exact: true }).click();
  const open = page.getByRole('link', { name: 'open the analysis' });
  await open.waitFor(T);
  await page.goto(server.url + '/' + (await open.getAttribute('href')));
  await page.getByText('Export CSV').waitFor(T);
  assert.equal(await page.locator('.prompt').first().textContent(), '“What is 2+2?”');
  await page.locator('details.chat summary').click();
  const rendered = await page.getByLabel('the prompt as the model received it').textContent();
  assert.equal(rendered, '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n');
  await screenshot(page, 'stores-analysis-chat');
  assert.deepEqual(errors, []);
});
