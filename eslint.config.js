// Lint setup: typescript-eslint's recommended rules on the TypeScript sources, Node globals for
// the plain scripts. Generated code is not linted (a test checks it against its source instead).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      'docs/api/**',
      'bpf/build/**',
      '**/node_modules/**',
      '**/src/generated/**',
      '.tmp/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
);
