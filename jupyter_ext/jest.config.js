/** jest for the panel's pure logic (src/model.ts, src/kernel.ts): ts-jest, no JupyterLab. */
module.exports = {
  testEnvironment: 'node',
  modulePathIgnorePatterns: ['<rootDir>/goldenpath_jupyter/', '<rootDir>/ui-tests/', '<rootDir>/lib/'],
  testRegex: 'src/__tests__/.*\\.spec\\.ts$',
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: { module: 'commonjs', esModuleInterop: true, jsx: 'react', types: ['jest', 'node'] } }]
  }
};
